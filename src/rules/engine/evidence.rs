//! Evidence: the original text around a hit, cut to whole characters and white space collapsed.

use crate::normalize::text::bytes_in;

/// Evidence context on each side of a hit, in characters.
pub(super) const CONTEXT_CHARS: usize = 40;

/// The evidence around `original[s..e]`: up to `CONTEXT_CHARS` characters on each side, white
/// space runs collapsed to one space, "…" where the text was cut.
pub(super) fn snippet(original: &str, s: usize, e: usize) -> String {
    let bytes = original.as_bytes();
    // Characters are counted by their first bytes (a UTF-8 continuation byte is 10xxxxxx);
    // ASCII around the match (most mail) is taken as it is.
    let lo = s.saturating_sub(CONTEXT_CHARS);
    let from = if bytes[lo..s].is_ascii() {
        lo
    } else {
        let (mut from, mut chars) = (s, 0);
        while from > 0 && chars < CONTEXT_CHARS {
            from -= 1;
            chars += usize::from(bytes[from] & 0xC0 != 0x80);
        }
        from
    };
    let to = match bytes.get(e..e + CONTEXT_CHARS + 1) {
        Some(after) if after.is_ascii() => e + CONTEXT_CHARS,
        None if bytes[e..].is_ascii() => original.len(),
        _ => {
            // The first byte of the character after the next `CONTEXT_CHARS`, else the end.
            let (mut to, mut chars) = (e, 0);
            while to < bytes.len() {
                if bytes[to] & 0xC0 != 0x80 {
                    if chars == CONTEXT_CHARS {
                        break;
                    }
                    chars += 1;
                }
                to += 1;
            }
            to
        }
    };
    let window = &original[from..to];
    let mut snippet = String::with_capacity(window.len() + 8);
    if from > 0 {
        snippet.push('…');
    }
    let at = snippet.len();
    if !collapse_ascii_space(window, &mut snippet) {
        snippet.truncate(at);
        collapse_by_chars(window, &mut snippet);
    }
    if to < original.len() {
        snippet.push('…');
    }
    snippet
}

/// `window` with its runs of white space (`char::is_whitespace`) as one space and none at
/// either end, onto `snippet`, a character at a time.
fn collapse_by_chars(window: &str, snippet: &mut String) {
    // Words between runs of white space (`char::is_whitespace`), found by bytes: white space
    // starts only at a character's first byte, and no other character's bytes look like it.
    let w = window.as_bytes();
    let mut i = 0;
    let mut first = true;
    // The words not yet copied (a stretch of the window).
    let mut run: Option<(usize, usize)> = None;
    while i < w.len() {
        loop {
            match space_at(w, i) {
                0 => break,
                n => i += n,
            }
        }
        let at = i;
        // To the next white space, a character at a time: only a few first bytes can begin
        // one (ASCII white space, 0xC2, 0xE1, 0xE2, 0xE3).
        while let Some(&b) = w.get(i) {
            if b < 0x80 {
                if matches!(b, b'\t'..=b'\r' | b' ') {
                    break;
                }
                i += 1;
            } else {
                if matches!(b, 0xC2 | 0xE1..=0xE3) && space_at(w, i) > 0 {
                    break;
                }
                i += utf8_len(b);
            }
        }
        if i > at {
            // Words apart by one space are copied together.
            match run {
                Some((_, end)) if at == end + 1 && w[end] == b' ' => run = run.map(|(s, _)| (s, i)),
                _ => {
                    if let Some((s, e)) = run {
                        if !first {
                            snippet.push(' ');
                        }
                        first = false;
                        snippet.push_str(&window[s..e]);
                    }
                    run = Some((at, i));
                }
            }
        }
    }
    if let Some((s, e)) = run {
        if !first {
            snippet.push(' ');
        }
        snippet.push_str(&window[s..e]);
    }
}

/// `collapse_by_chars` eight bytes at a time, for a window whose only white space is ASCII
/// (false, with part of it written, when it may hold other white space: U+0085, U+00A0 and
/// U+1680 to U+3000 begin with 0xC2, 0xE1, 0xE2 or 0xE3). Only the white space bytes that are
/// not a single space between words are looked at one by one.
fn collapse_ascii_space(window: &str, out: &mut String) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let w = window.as_bytes();
    let lead = w.iter().take_while(|b| is_ascii_space(**b)).count();
    let trail = w[lead..]
        .iter()
        .rev()
        .take_while(|b| is_ascii_space(**b))
        .count();
    let (lo, hi) = (lead, w.len() - trail);
    let mut copied = lo;
    // The high bit of the previous chunk's last byte when it was white space.
    let mut carry = 0u64;
    let mut base = lo;
    while base < hi {
        let mut chunk = [0u8; 8];
        let n = (hi - base).min(8);
        chunk[..n].copy_from_slice(&w[base..base + n]);
        let x = u64::from_le_bytes(chunk);
        let ascii = !x & HIGH;
        if ascii != HIGH
            && (equal_bytes(x, 0xC2)
                | equal_bytes(x, 0xE1)
                | equal_bytes(x, 0xE2)
                | equal_bytes(x, 0xE3))
                != 0
        {
            return false;
        }
        let y = x & !HIGH;
        let space = bytes_in(y, b' ', b' ') & ascii;
        let white = (bytes_in(y, b'\t', b'\r') & ascii) | space;
        // White space other than a space, or after white space: dropped, or a space.
        let mut odd = (white & !space) | (white & (white << 8 | carry));
        while odd != 0 {
            let i = base + odd.trailing_zeros() as usize / 8;
            odd &= odd - 1;
            out.push_str(&window[copied..i]);
            if !is_ascii_space(w[i - 1]) {
                out.push(' ');
            }
            copied = i + 1;
        }
        carry = white >> 56;
        base += 8;
    }
    out.push_str(&window[copied..hi.max(copied)]);
    true
}

/// The high bit of each byte of `x` equal to `v`.
fn equal_bytes(x: u64, v: u8) -> u64 {
    const LOW: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let t = x ^ (u64::from(v) * 0x0101_0101_0101_0101);
    !(((t & LOW) + LOW) | t | LOW)
}

/// ASCII white space as `char::is_whitespace` has it.
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ')
}

/// The length of the UTF-8 character whose first byte is `b` (≥ 0x80).
fn utf8_len(b: u8) -> usize {
    match b {
        0xF0.. => 4,
        0xE0.. => 3,
        _ => 2,
    }
}

/// The length in bytes of the white space character (`char::is_whitespace`) at `w[i]`, else 0
/// (also at the end).
#[inline(always)]
fn space_at(w: &[u8], i: usize) -> usize {
    let Some(&b) = w.get(i) else {
        return 0;
    };
    if b < 0x80 {
        return usize::from(matches!(b, b'\t'..=b'\r' | b' '));
    }
    match (b, w.get(i + 1).copied(), w.get(i + 2).copied()) {
        // U+0085, U+00A0
        (0xC2, Some(0x85 | 0xA0), _) => 2,
        // U+1680
        (0xE1, Some(0x9A), Some(0x80)) => 3,
        // U+2000..U+200A, U+2028, U+2029, U+202F, U+205F
        (0xE2, Some(0x80), Some(0x80..=0x8A | 0xA8 | 0xA9 | 0xAF))
        | (0xE2, Some(0x81), Some(0x9F)) => 3,
        // U+3000
        (0xE3, Some(0x80), Some(0x80)) => 3,
        _ => 0,
    }
}

#[cfg(test)]
mod snippet_tests {
    use super::*;

    /// The plain definition: forty characters each side by a character walk, white space as
    /// `split_whitespace` sees it.
    fn by_chars(original: &str, s: usize, e: usize) -> String {
        let from = original[..s]
            .char_indices()
            .rev()
            .take(CONTEXT_CHARS)
            .last()
            .map_or(s, |(i, _)| i);
        let to = original[e..]
            .char_indices()
            .nth(CONTEXT_CHARS)
            .map_or(original.len(), |(i, _)| e + i);
        let words: Vec<&str> = original[from..to].split_whitespace().collect();
        format!(
            "{}{}{}",
            if from > 0 { "…" } else { "" },
            words.join(" "),
            if to < original.len() { "…" } else { "" }
        )
    }

    #[test]
    fn white_space_by_bytes_is_char_is_whitespace() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let mut buf = [0u8; 4];
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            let want = if c.is_whitespace() { bytes.len() } else { 0 };
            assert_eq!(space_at(bytes, 0), want, "{:x}", c as u32);
            // A continuation byte is never taken for white space.
            for i in 1..bytes.len() {
                assert_eq!(space_at(bytes, i), 0, "{:x} byte {i}", c as u32);
            }
        }
    }

    #[test]
    fn the_snippet_is_the_one_a_character_walk_gives() {
        let pieces = [
            "price ",
            "\r\n",
            "  ",
            "\t",
            "\u{b}",
            "\u{c}",
            "x",
            "é",
            "价格",
            "\u{a0}",
            "\u{3000}",
            "word",
            ".",
            "\u{1f}",
            "\u{85}",
            "\u{2028}",
            "\u{1680}",
            "\u{205f}",
            "\u{2000}",
            "\u{200b}",
            "\u{e0}\u{80}",
        ];
        let mut seed = 11u64;
        for round in 0..400 {
            let mut text = String::new();
            for _ in 0..(1 + round % 60) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Mostly ASCII, so both paths run.
                let k = (seed >> 33) as usize % pieces.len();
                let k = if round % 3 == 0 { k } else { k % 7 };
                text.push_str(pieces[k]);
            }
            let bounds: Vec<usize> = (0..=text.len())
                .filter(|i| text.is_char_boundary(*i))
                .collect();
            for (a, &s) in bounds.iter().enumerate() {
                for &e in &bounds[a..(a + 4).min(bounds.len())] {
                    assert_eq!(
                        snippet(&text, s, e),
                        by_chars(&text, s, e),
                        "{text:?} {s}..{e}"
                    );
                }
            }
        }
    }
}
