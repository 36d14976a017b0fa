//! Lead routing: interleaved weighted round-robin with daily caps. Reps A, B, C with weights
//! 3:2:1 are dealt A, B, C, A, B, A, then again; a rep at its cap for the day is skipped. The
//! position in the cycle is a plain number the caller stores, so it survives restarts.

/// A rep taking part in lead routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub rep: String,
    pub weight: u32,
    /// Leads per day at most (`None`: no cap).
    pub daily_cap: Option<u32>,
}

/// The cycle of one round: rep indexes in dealing order (A, B, C, A, B, A for 3:2:1).
pub fn cycle(seats: &[Seat]) -> Vec<usize> {
    let rounds = seats.iter().map(|s| s.weight).max().unwrap_or(0);
    let mut out = Vec::new();
    for r in 1..=rounds {
        for (i, s) in seats.iter().enumerate() {
            if s.weight >= r {
                out.push(i);
            }
        }
    }
    out
}

/// The next rep for a lead: from `position` (the number of places dealt so far, stored by the
/// caller), skipping reps whose `assigned_today` has reached their cap and reps `full` (at
/// their holding cap). Returns the rep index and the new position, or `None` when every rep
/// is at a cap.
pub fn next(
    seats: &[Seat],
    position: u64,
    assigned_today: &[u32],
    full: &[bool],
) -> Option<(usize, u64)> {
    let order = cycle(seats);
    if order.is_empty() {
        return None;
    }
    for step in 0..order.len() as u64 {
        let at = position + step;
        let rep = order[(at % order.len() as u64) as usize];
        let used = assigned_today.get(rep).copied().unwrap_or(0);
        if seats[rep].daily_cap.is_none_or(|cap| used < cap)
            && !full.get(rep).copied().unwrap_or(false)
        {
            return Some((rep, at + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seats(caps: [Option<u32>; 3]) -> Vec<Seat> {
        ["A", "B", "C"]
            .iter()
            .zip([3, 2, 1])
            .zip(caps)
            .map(|((rep, weight), daily_cap)| Seat {
                rep: rep.to_string(),
                weight,
                daily_cap,
            })
            .collect()
    }

    fn deal(seats: &[Seat], n: usize, mut position: u64) -> (String, u64) {
        let mut today = vec![0u32; seats.len()];
        let mut out = String::new();
        for _ in 0..n {
            let Some((rep, next_position)) = next(seats, position, &today, &[]) else {
                out.push('-');
                continue;
            };
            today[rep] += 1;
            position = next_position;
            out.push_str(&seats[rep].rep);
        }
        (out, position)
    }

    #[test]
    fn three_two_one_interleaves() {
        let s = seats([None, None, None]);
        assert_eq!(deal(&s, 12, 0).0, "ABCABAABCABA");
    }

    #[test]
    fn the_position_survives_a_restart() {
        let s = seats([None, None, None]);
        let (first, position) = deal(&s, 4, 0);
        let (rest, _) = deal(&s, 8, position);
        assert_eq!(format!("{first}{rest}"), "ABCABAABCABA");
    }

    #[test]
    fn a_rep_at_its_holding_cap_is_skipped_like_one_at_its_daily_cap() {
        let s = seats([None, None, None]);
        let today = [0u32; 3];
        let full = [true, false, false];
        let mut position = 0;
        let mut dealt = String::new();
        for _ in 0..6 {
            let (rep, p) = next(&s, position, &today, &full).unwrap();
            position = p;
            dealt.push_str(&s[rep].rep);
        }
        assert_eq!(dealt, "BCBBCB");
        assert_eq!(next(&s, 0, &today, &[true, true, true]), None);
    }

    #[test]
    fn a_rep_at_its_cap_is_skipped_and_all_capped_means_nobody() {
        let s = seats([Some(1), None, None]);
        assert_eq!(deal(&s, 6, 0).0, "ABCBBC");
        let s = seats([Some(1), Some(1), Some(1)]);
        assert_eq!(deal(&s, 4, 0).0, "ABC-");
    }
}
