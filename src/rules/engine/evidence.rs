//! Evidence: the original text around a hit, cut to whole characters and white space collapsed.

/// Evidence context on each side of a hit, in characters.
pub(super) const CONTEXT_CHARS: usize = 40;

/// The evidence around `original[s..e]`: up to `CONTEXT_CHARS` characters on each side, white
/// space runs collapsed to one space, "…" where the text was cut.
pub(super) fn snippet(original: &str, s: usize, e: usize) -> String {
    let bytes = original.as_bytes();
    // ASCII around the match (most mail): bytes are characters.
    let lo = s.saturating_sub(CONTEXT_CHARS);
    let from = if bytes[lo..s].is_ascii() {
        lo
    } else {
        original[..s]
            .char_indices()
            .rev()
            .take(CONTEXT_CHARS)
            .last()
            .map_or(s, |(i, _)| i)
    };
    let to = match bytes.get(e..e + CONTEXT_CHARS + 1) {
        Some(after) if after.is_ascii() => e + CONTEXT_CHARS,
        None if bytes[e..].is_ascii() => original.len(),
        _ => original[e..]
            .char_indices()
            .nth(CONTEXT_CHARS)
            .map_or(original.len(), |(i, _)| e + i),
    };
    let window = &original[from..to];
    let mut snippet = String::with_capacity(window.len() + 8);
    if from > 0 {
        snippet.push('…');
    }
    let mut first = true;
    let mut push = |word: &str| {
        if !first {
            snippet.push(' ');
        }
        first = false;
        snippet.push_str(word);
    };
    if window.is_ascii() {
        // The white space of `char::is_whitespace` in ASCII: tab, line feed, vertical tab,
        // form feed, carriage return, space.
        let w = window.as_bytes();
        let mut i = 0;
        while i < w.len() {
            while i < w.len() && matches!(w[i], b'\t'..=b'\r' | b' ') {
                i += 1;
            }
            let at = i;
            while i < w.len() && !matches!(w[i], b'\t'..=b'\r' | b' ') {
                i += 1;
            }
            if i > at {
                push(&window[at..i]);
            }
        }
    } else {
        window.split_whitespace().for_each(push);
    }
    if to < original.len() {
        snippet.push('…');
    }
    snippet
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
    fn the_ascii_snippet_is_the_one_a_character_walk_gives() {
        let pieces = [
            "price ", "\r\n", "  ", "\t", "\u{b}", "\u{c}", "x", "é", "价格", "\u{a0}", "\u{3000}",
            "word", ".", "\u{1f}", "\u{85}",
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
