//! Context around candidate hits: the sentences a required cue or a conditional must stand
//! in, how far negation cues reach in a clause, which cues cancel a hit, and precedence
//! between tags.

use super::*;

impl RuleSet {
    /// How far negation cues of `rule` reach around a hit at `start..end`, and the stretch of
    /// text in which the cues (and exclusions and masks) that can touch it lie.
    pub(super) fn reach(&self, text: &str, start: usize, end: usize, rule: usize) -> Reach {
        let window = self.rules[rule].window;
        let bytes = text.as_bytes();
        let ascii_break = |b: &u8| b.is_ascii() && is_clause_break(*b as char);
        // The clause around the hit, at most `window` characters each side; Chinese and
        // Japanese cues must stand right next to it (six characters before, eight after).
        // ASCII around the hit: bytes are characters.
        let (before, cjk_before) = if start >= window && bytes[start - window..start].is_ascii() {
            let from = start - window;
            let before = bytes[from..start]
                .iter()
                .rposition(ascii_break)
                .map_or(from, |i| from + i + 1);
            (before, before.max(start.saturating_sub(6)))
        } else {
            clause_back(text, start, window)
        };
        let reach = window.max(8);
        let (after, cjk_after) = if end + reach <= bytes.len() && bytes[end..end + reach].is_ascii()
        {
            let steps = bytes[end..end + reach]
                .iter()
                .position(ascii_break)
                .unwrap_or(reach);
            (end + steps.min(window), end + steps.min(8))
        } else {
            clause_on(text, end, window)
        };
        Reach {
            before,
            after,
            cjk_before,
            cjk_after,
            lo: before,
            hi: after.max(cjk_after),
        }
    }

    /// Is the hit inside an exclusion, or negated by a cue in the same clause?
    pub(super) fn cancelled(&self, cues: &[CueHit], c: &Candidate, reach: &Reach) -> bool {
        let (start, end) = (c.start, c.end);
        let rc = &self.rule_cues[c.rule];
        // Cues are sorted by start: only those inside the hit's reach, and exclusions that
        // cover it, matter.
        let lo = reach.lo.min(start.saturating_sub(self.max_exclusion));
        let from = cues.partition_point(|c| c.start < lo);
        let near = &cues[from..];
        let near = &near[..near.partition_point(|c| c.start < reach.hi)];
        near.iter().any(|c| {
            let cjk = self.cue_info[c.id].cjk;
            (rc.has(c.id, EXCLUSION) && c.start <= start && c.end >= end)
                || (rc.has(c.id, BEFORE)
                    && c.end <= start
                    && c.start >= if cjk { reach.cjk_before } else { reach.before })
                || (rc.has(c.id, AFTER)
                    && c.start >= end
                    && c.end <= if cjk { reach.cjk_after } else { reach.after })
        })
    }

    /// Mark the sentence stretches of the candidates that need context (a required cue, a
    /// conditional), merge them, and search for context cues in each merged stretch once.
    /// Linear in the text.
    pub(super) fn find_context(
        &self,
        text: &str,
        candidates: &[Candidate],
        windows: &mut Vec<Windows>,
        hits: &mut Vec<ContextHit>,
        regions: &mut Vec<(usize, usize)>,
    ) {
        hits.clear();
        regions.clear();
        windows.clear();
        for c in candidates.iter() {
            windows.push(Windows::default());
            let w = windows.last_mut().expect("just pushed");
            let required = self.terms[c.term].requires.is_some();
            let conditional = !self.rules[c.rule].conditional.is_empty();
            if !required && !conditional {
                continue;
            }
            // One search for breaks, as wide as the wider window needs.
            let widest = if conditional {
                CONDITIONAL_WINDOW
            } else {
                CUE_WINDOW
            };
            let breaks = breaks_around(text, c.start, c.end, widest);
            if required {
                w.required = within_window(text, c.start, c.end, breaks, CUE_WINDOW);
                regions.push(w.required);
            }
            if conditional {
                w.conditional = within_window(text, c.start, c.end, breaks, CONDITIONAL_WINDOW);
                regions.push(w.conditional);
            }
        }
        merge(regions);
        for &(lo, hi) in regions.iter() {
            self.context.find(text, lo, hi, |start, end, entry| {
                let e = &self.context_entries[entry];
                if bounded(text, start, end, e.bound_start, e.bound_end)
                    && (!e.opens || opens_clause(text, start))
                {
                    hits.push(ContextHit { start, end, entry });
                }
            });
        }
        hits.sort_unstable_by_key(|h| h.start);
    }

    /// Does the sentence around a hit satisfy its rule: a cue of the set its keyword requires
    /// within `CUE_WINDOW` characters, and no conditional cue when the rule cancels those?
    pub(super) fn context_holds(
        &self,
        text: &str,
        hits: &[ContextHit],
        c: &Candidate,
        w: &Windows,
    ) -> bool {
        let within = |(lo, hi): (usize, usize), set: usize| {
            let from = hits.partition_point(|h| h.start < lo);
            hits[from..]
                .iter()
                .take_while(|h| h.start < hi)
                .any(|h| h.end <= hi && self.context_entries[h.entry].sets.contains(&set))
        };
        if let Some(set) = self.terms[c.term].requires
            && !within(w.required, set)
        {
            return false;
        }
        if self.rules[c.rule].conditional.is_empty() {
            return true;
        }
        if within(w.conditional, CONDITIONAL) {
            return false;
        }
        // Word endings are Turkish suffixes ("-rsa", "-rse"): counted only in a sentence that
        // reads as Turkish (it holds one of its common short words), so English "course" or
        // "Vietnamese" is no conditional.
        let (lo, hi) = w.conditional;
        !(!self.conditional_endings.is_empty()
            && within(w.conditional, TURKISH)
            && text[lo..hi].split(|c: char| !is_word_char(c)).any(|word| {
                self.conditional_endings
                    .iter()
                    .any(|e| word.len() > e.len() + 2 && word.ends_with(e.as_str()))
            }))
    }

    /// Precedence: drop the hits that a suppressing hit overrides. Only the few suppressing
    /// hits are compared with the others, and each one's sentence is found once.
    pub(super) fn drop_suppressed(&self, text: &str, candidates: &mut Vec<Candidate>) {
        let mut suppressors: Vec<(Candidate, (usize, usize))> = candidates
            .iter()
            .filter(|c| !self.suppresses[c.rule].is_empty())
            .map(|c| (*c, sentence_of(text, c.start, c.end)))
            .collect();
        if suppressors.is_empty() {
            return;
        }
        // A suppressing hit reaches at most its sentence (400 characters each side, at most
        // 4 bytes each): only those starting that near a candidate are compared with it, so a
        // text full of hits costs linear time.
        const REACH: usize = 4 * 400 + 512;
        suppressors.sort_unstable_by_key(|(s, _)| s.start);
        candidates.retain(|c| {
            let from = suppressors.partition_point(|(s, _)| s.start + REACH < c.start);
            let near = &suppressors[from..];
            let near = &near[..near.partition_point(|(s, _)| s.start <= c.end + REACH)];
            !near.iter().any(|(s, (lo, hi))| {
                self.suppresses[s.rule].iter().any(|(rule, in_sentence)| {
                    *rule == c.rule
                        && if *in_sentence {
                            *lo <= c.start && c.end <= *hi
                        } else {
                            s.start <= c.start
                                && (c.start < s.end
                                    || (c.start - s.end <= 4 * CUE_WINDOW
                                        && text[s.end..c.start].chars().count() <= CUE_WINDOW
                                        && !text[s.end..c.start].chars().any(is_clause_break)))
                        }
                })
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reach_of_negation_cues_is_the_same_found_by_bytes() {
        let set = crate::rules::load(None).unwrap();
        let text = "we do not need samples. No, we don't need a discount, thanks; \
                    不需要样品。 the price is too high for us! 价格 ok 太贵 no";
        let window = set.rules[0].window;
        for start in 0..text.len() {
            for end in start..(start + 12).min(text.len()) {
                if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
                    continue;
                }
                // What the byte search finds equals the character walk.
                let got = set.reach(text, start, end, 0);
                let (before, cjk_before) = clause_back(text, start, window);
                let (after, cjk_after) = clause_on(text, end, window);
                assert_eq!(
                    (
                        got.before,
                        got.after,
                        got.cjk_before,
                        got.cjk_after,
                        got.lo,
                        got.hi
                    ),
                    (
                        before,
                        after,
                        cjk_before,
                        cjk_after,
                        before,
                        after.max(cjk_after)
                    ),
                    "{start}..{end}"
                );
            }
        }
    }
}
