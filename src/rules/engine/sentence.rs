//! Sentences and clauses of folded text: where the sentence around a hit begins and ends
//! (found with byte searches), how far a window of characters reaches, clause breaks.

use super::*;

/// How far (in characters, within the sentence) a `requires` cue may stand from its keyword.
pub(super) const CUE_WINDOW: usize = 60;
/// How far (in characters, within the sentence) a conditional cue reaches.
pub(super) const CONDITIONAL_WINDOW: usize = 120;
// `find_context` searches breaks once, as wide as the conditional window, for both.
const _: () = assert!(CONDITIONAL_WINDOW >= CUE_WINDOW);

/// The whole sentence around `start..end` (up to 400 characters each side).
pub(super) fn sentence_of(text: &str, start: usize, end: usize) -> (usize, usize) {
    sentence(text, start, end, 400)
}

/// The sentence around `start..end`, at most `window` characters each side (byte offsets).
pub(super) fn sentence(text: &str, start: usize, end: usize, window: usize) -> (usize, usize) {
    within_window(
        text,
        start,
        end,
        breaks_around(text, start, end, window),
        window,
    )
}

/// The sentence breaks around `start..end`, searched `4 * window` bytes each side (no window
/// of `window` characters reaches further): where the sentence begins (after the last break
/// before `start`) and where it ends (the first break from `end`), else how far the search
/// went. Narrower windows clamp the same bounds (`within_window`), so one search serves them.
pub(super) fn breaks_around(text: &str, start: usize, end: usize, window: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    let far = start.saturating_sub(4 * window);
    let mut hi = start;
    let mut from = far;
    while let Some(at) = last_break(bytes, far, hi) {
        if is_decimal_point(text, at) {
            hi = at;
            continue;
        }
        from = at + break_len(bytes, at);
        break;
    }
    let far = (end + 4 * window).min(bytes.len());
    let mut lo = end;
    let mut to = far;
    while let Some(at) = next_break(bytes, lo, far) {
        if is_decimal_point(text, at) {
            lo = at + 1;
            continue;
        }
        to = at;
        break;
    }
    (from, to)
}

/// The sentence `(from, to)` (from `breaks_around`, searched at least as wide) cut to `window`
/// characters each side of `start..end`, on character boundaries.
pub(super) fn within_window(
    text: &str,
    start: usize,
    end: usize,
    (from, to): (usize, usize),
    window: usize,
) -> (usize, usize) {
    let bytes = text.as_bytes();
    // `window` characters back: directly for ASCII, else character by character.
    let limit = if start >= window
        && text.is_char_boundary(start - window)
        && bytes[start - window..start].is_ascii()
    {
        start - window
    } else {
        let (mut lo, mut n) = (start, 0);
        while lo > from && n < window {
            lo = prev_char(text, lo).0;
            n += 1;
        }
        lo
    };
    let lo = from.max(limit);
    let lo = if text.is_char_boundary(lo) {
        lo
    } else {
        (lo..start)
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(start)
    };
    let limit = if end + window <= bytes.len()
        && text.is_char_boundary(end + window)
        && bytes[end..end + window].is_ascii()
    {
        end + window
    } else {
        let (mut hi, mut n) = (end, 0);
        while hi < to && n < window {
            hi = next_char(text, hi).0;
            n += 1;
        }
        hi
    };
    let hi = to.min(limit);
    let hi = if text.is_char_boundary(hi) {
        hi
    } else {
        (end..=hi)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(end)
    };
    (lo, hi)
}

/// The byte length of the sentence break at `at` (1, or 3 for "。！？；").
fn break_len(bytes: &[u8], at: usize) -> usize {
    if bytes[at] < 0x80 { 1 } else { 3 }
}

/// Is there a full-width sentence break ("。" E3 80 82, "！" EF BC 81, "？" EF BC 9F,
/// "；" EF BC 9B) starting at `at`?
fn wide_break_at(bytes: &[u8], at: usize) -> bool {
    matches!(
        bytes.get(at..at + 3),
        Some([0xE3, 0x80, 0x82] | [0xEF, 0xBC, 0x81 | 0x9F | 0x9B])
    )
}

/// The last sentence break in `bytes[lo..hi]` (its first byte).
fn last_break(bytes: &[u8], lo: usize, hi: usize) -> Option<usize> {
    let slice = &bytes[lo..hi];
    let ascii = memchr::memrchr3(b'.', b'!', b'?', slice)
        .max(memchr::memrchr2(b';', b'\n', slice))
        .map(|i| lo + i);
    // Full-width breaks after the last ASCII one.
    let floor = ascii.map_or(lo, |a| a + 1);
    let mut end = hi;
    while end > floor {
        match memchr::memrchr2(0xE3, 0xEF, &bytes[floor..end]) {
            Some(i) => {
                let at = floor + i;
                if at + 3 <= hi && wide_break_at(bytes, at) {
                    return Some(at);
                }
                end = at;
            }
            None => break,
        }
    }
    ascii
}

/// The first sentence break in `bytes[lo..hi]`.
fn next_break(bytes: &[u8], lo: usize, hi: usize) -> Option<usize> {
    let slice = &bytes[lo..hi];
    let a = memchr::memchr3(b'.', b'!', b'?', slice);
    let b = memchr::memchr2(b';', b'\n', slice);
    let ascii = match (a, b) {
        (Some(x), Some(y)) => Some(lo + x.min(y)),
        (x, y) => x.or(y).map(|i| lo + i),
    };
    let ceiling = ascii.unwrap_or(hi);
    let mut from = lo;
    while from < ceiling {
        match memchr::memchr2(0xE3, 0xEF, &bytes[from..ceiling]) {
            Some(i) => {
                let at = from + i;
                if wide_break_at(bytes, at) {
                    return Some(at);
                }
                from = at + 1;
            }
            None => break,
        }
    }
    ascii
}

/// A '.' that does not end a sentence: between letters or digits ("3.5", "e.g") or after a
/// common abbreviation ("2 pcs. of the", "по 2 шт. новых", "approx. 500"). Folded text is in
/// lower case, so capitals cannot tell.
fn is_decimal_point(text: &str, at: usize) -> bool {
    if text.as_bytes().get(at) != Some(&b'.') || at == 0 {
        return false;
    }
    let glued = text.as_bytes()[at - 1].is_ascii_alphanumeric()
        && text
            .as_bytes()
            .get(at + 1)
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if glued {
        return true;
    }
    // The word before the '.': by bytes when it is ASCII and short (every abbreviation is).
    let bytes = text.as_bytes();
    let ascii = bytes[..at]
        .iter()
        .rev()
        .take(8)
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    let from = at - ascii;
    if ascii < 8 && (from == 0 || !is_word_char(prev_char(text, from).1)) {
        return is_abbreviation(&text[from..at]);
    }
    let word = text[..at]
        .rsplit(|c: char| !is_word_char(c))
        .next()
        .unwrap_or("");
    is_abbreviation(word)
}

/// Abbreviations followed by a '.' inside a sentence (folded).
fn is_abbreviation(word: &str) -> bool {
    matches!(
        word,
        "pcs"
            | "pc"
            | "nos"
            | "no"
            | "qty"
            | "approx"
            | "ca"
            | "kg"
            | "ltd"
            | "co"
            | "inc"
            | "mr"
            | "mrs"
            | "ms"
            | "dr"
            | "st"
            | "vs"
            | "ref"
            | "art"
            | "nr"
            | "sr"
            | "sra"
            | "шт"
            | "ед"
            | "г"
            | "стр"
            | "tel"
            | "ext"
    )
}

/// Does a clause start at `at` (only white space between it and the text's start or a clause
/// break)?
pub(super) fn opens_clause(text: &str, at: usize) -> bool {
    text[..at]
        .chars()
        .rev()
        .find(|c| !c.is_whitespace())
        .is_none_or(is_clause_break)
}

/// Characters that end a clause: a negation never reaches across them.
pub(super) fn is_clause_break(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '?' | ';' | '\n' | '。' | '！' | '？' | '；' | ',' | '，' | '、' | ':' | '：'
    )
}

/// Walking back from `start` character by character up to a clause break: where `window`
/// characters end, and where six (the reach of Chinese and Japanese cues) end.
pub(super) fn clause_back(text: &str, start: usize, window: usize) -> (usize, usize) {
    let (mut before, mut cjk_before, mut n) = (start, start, 0);
    while before > 0 && n < window {
        let (at, c) = prev_char(text, before);
        if is_clause_break(c) {
            break;
        }
        before = at;
        n += 1;
        if n <= 6 {
            cjk_before = at;
        }
    }
    (before, cjk_before)
}

/// Walking on from `end` character by character up to a clause break: where `window`
/// characters end, and where eight (the reach of Chinese and Japanese cues) end.
pub(super) fn clause_on(text: &str, end: usize, window: usize) -> (usize, usize) {
    let (mut at, mut after, mut cjk_after, mut n) = (end, end, end, 0);
    while at < text.len() && n < window.max(8) {
        let (next, c) = next_char(text, at);
        if is_clause_break(c) {
            break;
        }
        at = next;
        n += 1;
        if n <= window {
            after = at;
        }
        if n <= 8 {
            cjk_after = at;
        }
    }
    (after, cjk_after)
}

/// The char that ends at byte `i` and where it starts.
pub(super) fn prev_char(text: &str, i: usize) -> (usize, char) {
    let bytes = text.as_bytes();
    if bytes[i - 1] < 0x80 {
        return (i - 1, bytes[i - 1] as char);
    }
    let mut at = i - 1;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    (at, text[at..i].chars().next().unwrap_or(' '))
}

/// The char that starts at byte `i` and where the next one starts.
pub(super) fn next_char(text: &str, i: usize) -> (usize, char) {
    let b = text.as_bytes()[i];
    if b < 0x80 {
        return (i + 1, b as char);
    }
    let c = text[i..].chars().next().unwrap_or(' ');
    (i + c.len_utf8(), c)
}

#[cfg(test)]
mod sentence_tests {
    use super::*;

    /// The plain definition: walk character by character.
    fn by_chars(text: &str, start: usize, end: usize, window: usize) -> (usize, usize) {
        let brk = |c: char| matches!(c, '.' | '!' | '?' | ';' | '\n' | '。' | '！' | '？' | '；');
        let (mut lo, mut n) = (start, 0);
        while lo > 0 && n < window {
            let (at, c) = prev_char(text, lo);
            if brk(c) && !is_decimal_point(text, at) {
                break;
            }
            lo = at;
            n += 1;
        }
        let (mut hi, mut n) = (end, 0);
        while hi < text.len() && n < window {
            let (next, c) = next_char(text, hi);
            if brk(c) && !is_decimal_point(text, hi) {
                break;
            }
            hi = next;
            n += 1;
        }
        (lo, hi)
    }

    #[test]
    fn the_byte_search_finds_the_same_sentences_as_a_character_walk() {
        let pieces = [
            "we need",
            " samples",
            ". ",
            "请寄样品",
            "。",
            "pcs. of",
            " 3.5 kg",
            "！",
            "？",
            "；",
            "\n",
            "über",
            " образцы",
            "; ",
            "e.g. ",
            "見本を送って",
            "ok",
            "!",
            "?",
            "ça va",
            "  ",
            "مرحبا",
        ];
        // A deterministic mix of every piece, many lengths.
        let mut seed = 7u64;
        let mut checked = 0;
        for round in 0..300 {
            let mut text = String::new();
            for _ in 0..(3 + round % 37) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            let bounds: Vec<usize> = (0..=text.len())
                .filter(|i| text.is_char_boundary(*i))
                .collect();
            for (k, &start) in bounds.iter().enumerate() {
                let end = bounds[(k + 3).min(bounds.len() - 1)];
                let wide = breaks_around(&text, start, end, 120);
                for window in [5, 60, 120] {
                    assert_eq!(
                        sentence(&text, start, end, window),
                        by_chars(&text, start, end, window),
                        "{text:?} {start}..{end} window {window}"
                    );
                    // Bounds searched for a wider window, cut to this one: the same.
                    assert_eq!(
                        within_window(&text, start, end, wide, window),
                        by_chars(&text, start, end, window),
                        "{text:?} {start}..{end} window {window}, searched for 120"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }
}
