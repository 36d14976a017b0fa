//! Text folding for matching: NFKC (full-width → half-width), case folding, Latin accents
//! dropped, Traditional → Simplified Chinese, with every folded byte mapped back to its
//! offset in the original text so evidence quotes what the customer really wrote.

use unicode_normalization::UnicodeNormalization;

/// Folded text and the map back to the original.
#[derive(Debug, Clone, Default)]
pub struct Folded {
    pub text: String,
    /// Sparse map from folded to original offsets: sorted segments. Most text folds byte for
    /// byte (ASCII case, Han characters), so a segment covers a long run; only characters whose
    /// folded form has another length (full-width, accents, collapsed white space) start one.
    segments: Vec<Segment>,
    original_len: usize,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    folded: u32,
    original: u32,
    /// Offsets advance together inside the segment; else every folded byte maps to `original`.
    linear: bool,
}

impl Folded {
    /// The original offset of folded byte `i`.
    fn to_original(&self, i: usize) -> usize {
        if i >= self.text.len() {
            return self.original_len;
        }
        let at = self.segments.partition_point(|s| s.folded as usize <= i);
        match at.checked_sub(1).map(|k| self.segments[k]) {
            Some(seg) if seg.linear => seg.original as usize + (i - seg.folded as usize),
            Some(seg) => seg.original as usize,
            None => 0,
        }
    }

    /// The original byte range of folded range `start..end`.
    pub fn original_range(&self, original: &str, start: usize, end: usize) -> (usize, usize) {
        let floor = |mut i: usize| {
            i = i.min(original.len());
            while !original.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let s = floor(self.to_original(start));
        if end <= start {
            return (s, s);
        }
        let last = floor(self.to_original(end - 1));
        // End at the end of the original char that produced the last folded byte.
        let e = original[last..]
            .chars()
            .next()
            .map(|c| last + c.len_utf8())
            .unwrap_or(original.len());
        (s, e.max(s))
    }
}

/// Record that folded byte `folded` comes from original byte `original` (linear: the offsets
/// advance together from here).
fn map(segments: &mut Vec<Segment>, folded: usize, original: usize, linear: bool) {
    if linear
        && let Some(last) = segments.last()
        && last.linear
        && folded - last.folded as usize == original - last.original as usize
    {
        return;
    }
    segments.push(Segment {
        folded: folded as u32,
        original: original as u32,
        linear,
    });
}

/// Is this a Latin letter whose accents can be dropped (é → e, ç → c)?
fn is_latin(c: char) -> bool {
    matches!(c as u32, 0x00C0..=0x024F | 0x1E00..=0x1EFF)
}

/// Fold one char into `out`.
fn fold_char(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    match c {
        'ß' | 'ẞ' => {
            out.push_str("ss");
            return;
        }
        // Turkish dotless i: people without a Turkish keyboard type "i", so both match.
        'ı' => {
            out.push('i');
            return;
        }
        // Typographic apostrophes and quotes as their ASCII forms ("don’t" → "don't").
        '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{FF07}' => {
            out.push('\'');
            return;
        }
        '\u{00A0}' | '\u{3000}' => {
            out.push(' ');
            return;
        }
        // Full-width ASCII ("，", "：", "Ｐ"), common in Chinese and Japanese mail: its NFKC
        // form is the ASCII character U+FEE0 below it.
        '\u{FF01}'..='\u{FF5E}' => {
            out.push(char::from((c as u32 - 0xFEE0) as u8).to_ascii_lowercase());
            return;
        }
        _ => {}
    }
    fold_by_nfkc(c, out);
}

/// Fold one char by its NFKC form, lower case, Latin accents dropped.
fn fold_by_nfkc(c: char, out: &mut String) {
    for k in std::iter::once(c).nfkc() {
        for l in k.to_lowercase() {
            if is_latin(l) {
                for d in std::iter::once(l).nfd() {
                    if !unicode_normalization::char::is_combining_mark(d) {
                        out.push(d);
                    }
                }
            } else if unicode_normalization::char::is_combining_mark(l) && (l as u32) < 0x0370 {
                // A combining accent after a Latin letter.
            } else {
                out.push(l);
            }
        }
    }
}

/// Fold text for matching. Runs of white space become one space (a hard line wrap inside a
/// phrase still matches), a paragraph break stays a line break, and a line break between two
/// CJK characters disappears ("样\n品" is "样品").
pub fn fold(original: &str) -> Folded {
    let mut f = Folded::default();
    fold_into(original, &mut f);
    f
}

/// `fold`, reusing the buffers of `f` (the rule engine folds thousands of texts a second).
pub fn fold_into(original: &str, f: &mut Folded) {
    let text = &mut f.text;
    text.clear();
    text.reserve(original.len() + 8);
    let segments = &mut f.segments;
    segments.clear();
    // Pending white space: (offset of its first char, its length in bytes, newlines seen).
    let mut space: Option<(usize, usize, usize)> = None;
    let mut prev_cjk = false;
    let bytes = original.as_bytes();
    let simplified: &[char] = &SIMPLIFIED;
    let latin: &[String] = &LATIN;
    let punctuation: &[String] = &PUNCTUATION;
    let mut offset = 0;
    while offset < bytes.len() {
        let b = bytes[offset];
        // ASCII fast path: most of any mail is ASCII.
        let (c, len) = if b < 0x80 {
            (b as char, 1)
        } else {
            let c = original[offset..].chars().next().unwrap_or(' ');
            (c, c.len_utf8())
        };
        if c.is_whitespace() && c != '\u{3000}' {
            let s = space.get_or_insert((offset, 0, 0));
            s.1 += len;
            if c == '\n' {
                s.2 += 1;
            }
            offset += len;
            continue;
        }
        let cjk = len == 3 && is_cjk(c);
        if let Some((at, run, newlines)) = space.take()
            && !text.is_empty()
        {
            let here = text.len();
            if newlines >= 2 {
                text.push('\n');
            } else if !(newlines == 1 && prev_cjk && cjk) {
                text.push(' ');
            }
            if text.len() > here {
                map(segments, here, at, run == 1);
            }
        }
        let here = text.len();
        if len == 1 {
            // A run of ASCII in which every white space byte stands alone folds byte for byte
            // (letters lowered, the lone space, tab or line break a space): one segment.
            map(segments, here, offset, true);
            let mut i = offset;
            let mut prev_space = false;
            // Eight bytes at a time while they are ASCII without two white spaces in a row.
            let mut buf = [0u8; 64];
            let mut n = 0;
            while let Some(chunk) = bytes.get(i..i + 8) {
                let Some((eight, spaces)) =
                    fold8(u64::from_le_bytes(chunk.try_into().unwrap_or([0x80; 8])))
                else {
                    break;
                };
                if spaces & (spaces << 8 | u64::from(prev_space) << 7) != 0 {
                    break;
                }
                buf[n..n + 8].copy_from_slice(&eight.to_le_bytes());
                n += 8;
                i += 8;
                prev_space = spaces >> 63 != 0;
                if n == buf.len() {
                    text.push_str(std::str::from_utf8(&buf).expect("ASCII"));
                    n = 0;
                }
            }
            text.push_str(std::str::from_utf8(&buf[..n]).expect("ASCII"));
            while let Some(&x) = bytes.get(i) {
                if x >= 0x80 {
                    break;
                }
                let f = ASCII_FOLD[x as usize];
                let space = f == b' ';
                if space && prev_space {
                    break;
                }
                prev_space = space;
                text.push(f as char);
                i += 1;
            }
            if prev_space {
                // A space before more white space, a non-ASCII char or the end: the white
                // space path decides what it becomes.
                text.pop();
                i -= 1;
            }
            prev_cjk = false;
            offset = i;
            continue;
        } else if matches!(c as u32, 0x4E00..=0x9FFF) {
            // Han ideographs are their own NFKC form; Traditional becomes Simplified. A run of
            // them folds here in one go (each is three bytes, as is its simplified form).
            let mut at = offset;
            let mut c = c;
            loop {
                let simple = simplified.get(c as usize - 0x4E00).copied().unwrap_or(c);
                map(segments, text.len(), at, simple.len_utf8() == 3);
                text.push(simple);
                at += 3;
                match original[at..].chars().next() {
                    Some(next) if matches!(next as u32, 0x4E00..=0x9FFF) => c = next,
                    _ => break,
                }
            }
            prev_cjk = true;
            offset = at;
            continue;
        } else if matches!(c as u32, 0x3040..=0x30FF | 0x0600..=0x06FF | 0x3001..=0x3011) {
            // Kana, Arabic and CJK punctuation are their own NFKC form and have no case.
            text.push_str(&original[offset..offset + len]);
            map(segments, here, offset, true);
        } else if matches!(c as u32, 0x0400..=0x045F) {
            // Cyrillic (Russian, Ukrainian, Serbian...): NFKC leaves it alone; capitals fold
            // to the small letters at a fixed distance (same length). A run of it (a word)
            // folds here in one go.
            map(segments, here, offset, true);
            let mut at = offset;
            let mut c = c;
            loop {
                let lower = match c as u32 {
                    0x0400..=0x040F => c as u32 + 0x50,
                    0x0410..=0x042F => c as u32 + 0x20,
                    _ => c as u32,
                };
                text.push(char::from_u32(lower).unwrap_or(c));
                at += 2;
                match original[at..].chars().next() {
                    Some(next) if matches!(next as u32, 0x0400..=0x045F) => c = next,
                    _ => break,
                }
            }
            prev_cjk = false;
            offset = at;
            continue;
        } else if let Some(folded) = match c as usize {
            0x80..0x250 => latin.get(c as usize - 0x80),
            0x2000..0x2070 => punctuation.get(c as usize - 0x2000),
            _ => None,
        } {
            // Latin-1 and Latin Extended, general punctuation: a precomputed fold (accents
            // dropped, case folded, "…" three dots).
            text.push_str(folded);
            let same = text.len() - here == len;
            map(segments, here, offset, same);
            if !same && text.len() > here {
                segments.last_mut().expect("just mapped").linear = false;
            }
        } else {
            fold_char(c, text);
            let same = text.len() - here == len;
            map(segments, here, offset, same);
            if !same && text.len() > here {
                // The next char starts a new segment.
                segments.last_mut().expect("just mapped").linear = false;
            }
        }
        prev_cjk = cjk;
        offset += len;
    }
    f.original_len = original.len();
}

/// The high bit of each of the eight bytes of `y` (little-endian, every byte below 0x80) that
/// lies in `lo..=hi` (`lo` ≥ 1, `hi` < 0x7F): the range tests of all eight side by side, no
/// byte's sum carrying into the next.
#[inline]
pub fn bytes_in(y: u64, lo: u8, hi: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let at_least = |lo: u8| y + ONES * (128 - lo as u64);
    at_least(lo) & !at_least(hi + 1) & (ONES * 0x80)
}

/// Eight bytes (little-endian) folded as `ASCII_FOLD` folds each, with the high bit of each
/// white space byte; None unless all eight are ASCII.
fn fold8(x: u64) -> Option<(u64, u64)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    if x & HIGH != 0 {
        return None;
    }
    let upper = bytes_in(x, b'A', b'Z');
    let spaces = bytes_in(x, b'\t', b'\r') | bytes_in(x, b' ', b' ');
    let space_bytes = (spaces >> 7) * 0xff;
    let lowered = x + (upper >> 2);
    Some((
        (lowered & !space_bytes) | (space_bytes & (ONES * 0x20)),
        spaces,
    ))
}

/// ASCII bytes as folded: capitals lowered, white space a space.
const ASCII_FOLD: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        t[i] = if is_space_byte(b) {
            b' '
        } else {
            b.to_ascii_lowercase()
        };
        i += 1;
    }
    t
};

/// ASCII white space as `char::is_whitespace` sees it.
const fn is_space_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r')
}

/// Traditional → Simplified for the Han ideographs U+4E00..U+9FFF, built once from fast2s's
/// character map (each character converted alone, so no context applies).
static SIMPLIFIED: std::sync::LazyLock<Vec<char>> = std::sync::LazyLock::new(|| {
    let chars: Vec<char> = (0x4E00u32..=0x9FFF).filter_map(char::from_u32).collect();
    let spaced: String = chars.iter().flat_map(|c| [*c, ' ']).collect();
    let converted: Vec<char> = fast2s::convert(&spaced)
        .chars()
        .filter(|c| *c != ' ')
        .collect();
    if converted.len() == chars.len() {
        converted
    } else {
        chars
    }
});

/// The fold of every char from U+0080 to U+024F (Latin-1, Latin Extended-A and -B), computed
/// once: the general path (NFKC, lower case, accents dropped) is slow, and Spanish, Portuguese,
/// French, German and Turkish mail is full of these letters. White space is never looked up.
static LATIN: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| fold_table(0x80..0x250));

/// The fold of every char from U+2000 to U+206F (general punctuation: the curly quotes,
/// dashes and ellipsis mail clients type for their users), computed once as `LATIN` is.
static PUNCTUATION: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| fold_table(0x2000..0x2070));

/// The fold of each char of a range of code points, by the general path.
fn fold_table(range: std::ops::Range<u32>) -> Vec<String> {
    range
        .map(|u| {
            let mut s = String::new();
            if let Some(c) = char::from_u32(u) {
                fold_char(c, &mut s);
            }
            s
        })
        .collect()
}

/// Fold a keyword or phrase (no map needed).
pub fn fold_str(s: &str) -> String {
    fold(s).text
}

/// The language a text is written in, when its script says so: Japanese (kana), Chinese (Han
/// without kana), Korean, Russian (Cyrillic) or Arabic. Latin-script languages return `None`.
pub fn script_language(text: &str) -> Option<&'static str> {
    let (mut han, mut kana, mut hangul, mut cyr, mut arabic, mut letters) = (0usize, 0, 0, 0, 0, 0);
    for c in text.chars().take(4000) {
        if !c.is_alphabetic() {
            continue;
        }
        letters += 1;
        match c as u32 {
            0x3040..=0x30FF => kana += 1,
            0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF => han += 1,
            0xAC00..=0xD7AF => hangul += 1,
            0x0400..=0x04FF => cyr += 1,
            0x0600..=0x06FF | 0x0750..=0x077F => arabic += 1,
            _ => {}
        }
    }
    if letters == 0 {
        return None;
    }
    let share = |n: usize| n * 100 / letters;
    if kana > 0 && share(kana + han) >= 30 {
        Some("ja")
    } else if share(han) >= 30 {
        Some("zh")
    } else if share(hangul) >= 30 {
        Some("ko")
    } else if share(cyr) >= 50 {
        Some("ru")
    } else if share(arabic) >= 50 {
        Some("ar")
    } else {
        None
    }
}

/// Chinese, Japanese or Korean ideographs and kana: words are not separated by spaces.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F | 0xAC00..=0xD7AF)
}

/// Is `c` part of a word for boundary checks (letters and digits of spaced scripts)?
pub fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    c.is_alphanumeric() && !is_cjk(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_width_accents_and_traditional() {
        assert_eq!(fold("Best PRICE").text, "best price");
        assert_eq!(fold("ＰＩ and Ｔ／Ｔ").text, "pi and t/t");
        assert_eq!(
            fold("Cotización rápida, ¿envío?").text,
            "cotizacion rapida, ¿envio?"
        );
        assert_eq!(fold("Straße").text, "strasse");
        assert_eq!(fold("Çok PAHALI, pahalı").text, "cok pahali, pahali");
        assert_eq!(fold("請提供樣品和報價").text, "请提供样品和报价");
        assert_eq!(fold("Срочно НУЖНО").text, "срочно нужно");
        assert_eq!(fold("don’t").text, "don't");
        assert_eq!(
            fold("best\nprice,  really\n\nnew para").text,
            "best price, really\nnew para"
        );
        assert_eq!(fold("先寄两套样\n品到拉各斯").text, "先寄两套样品到拉各斯");
    }

    #[test]
    fn eight_bytes_fold_as_each_byte_does() {
        for b in 0..128u8 {
            for at in 0..8 {
                let mut bytes = [b'q'; 8];
                bytes[at] = b;
                let (eight, spaces) = fold8(u64::from_le_bytes(bytes)).unwrap();
                let want: Vec<u8> = bytes.iter().map(|x| ASCII_FOLD[*x as usize]).collect();
                assert_eq!(eight.to_le_bytes().to_vec(), want, "byte {b:#x} at {at}");
                let spaced = spaces & (0x80 << (8 * at)) != 0;
                assert_eq!(spaced, is_space_byte(b), "byte {b:#x} at {at}");
            }
        }
        assert!(fold8(u64::from_le_bytes(*b"abc\xc3\xa9def")).is_none());
    }

    #[test]
    fn typographic_punctuation_folds_and_maps_back() {
        let original = "\u{201c}Urgent\u{201d} \u{2014} send the PO now\u{2026} we\u{2019}re late";
        let f = fold(original);
        assert_eq!(
            f.text,
            "\u{201c}urgent\u{201d} \u{2014} send the po now... we're late"
        );
        for (needle, written) in [
            ("urgent", "Urgent"),
            ("send the po now", "send the PO now"),
            ("we're late", "we\u{2019}re late"),
        ] {
            let at = f.text.find(needle).unwrap();
            let (s, e) = f.original_range(original, at, at + needle.len());
            assert_eq!(&original[s..e], written);
        }
    }

    #[test]
    fn full_width_ascii_folds_as_its_nfkc_form() {
        for c in ('\u{FF01}'..='\u{FF5E}').chain(['\u{FF00}', '\u{FF5F}']) {
            let (mut fast, mut nfkc) = (String::new(), String::new());
            fold_char(c, &mut fast);
            fold_by_nfkc(c, &mut nfkc);
            assert_eq!(fast, nfkc, "{:x}", c as u32);
        }
    }

    #[test]
    fn ascii_runs_fold_as_a_char_by_char_reference() {
        // White space runs: two line breaks or more a paragraph break, else one space; none at
        // either end. Every other folded byte maps back to the byte it came from.
        fn reference(text: &str) -> String {
            let mut out = String::new();
            let mut pending: Option<usize> = None;
            for c in text.chars() {
                if c.is_whitespace() {
                    *pending.get_or_insert(0) += usize::from(c == '\n');
                    continue;
                }
                if let Some(newlines) = pending.take()
                    && !out.is_empty()
                {
                    out.push(if newlines >= 2 { '\n' } else { ' ' });
                }
                out.extend(c.to_lowercase().map(|c| if c == 'é' { 'e' } else { c }));
            }
            out
        }
        // With the white space `char::is_whitespace` knows in and out of ASCII, and a control
        // byte that is not white space.
        let alphabet: Vec<char> = "aZq9_.,  \n\t\ré\u{b}\u{c}\u{1c}\u{a0}".chars().collect();
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for _ in 0..20000 {
            let len = next() % 90;
            let text: String = (0..len)
                .map(|_| alphabet[next() % alphabet.len()])
                .collect();
            let f = fold(&text);
            assert_eq!(f.text, reference(&text), "{text:?}");
            for (i, b) in f.text.bytes().enumerate() {
                if b.is_ascii_alphanumeric() || b == b'.' {
                    let (s, e) = f.original_range(&text, i, i + 1);
                    assert_eq!(
                        text[s..e].to_lowercase().replace('é', "e"),
                        (b as char).to_string()
                    );
                }
            }
        }
    }

    #[test]
    fn script_languages() {
        assert_eq!(script_language("请尽快报价，谢谢"), Some("zh"));
        assert_eq!(
            script_language("サンプルを送ってください。品質"),
            Some("ja")
        );
        assert_eq!(script_language("Прошу выслать образцы"), Some("ru"));
        assert_eq!(script_language("نرجو إرسال عينات"), Some("ar"));
        assert_eq!(
            script_language("Hi 张经理, thanks 下一批的PO我明天发给你"),
            Some("zh")
        );
        assert_eq!(script_language("Please send samples"), None);
    }

    #[test]
    fn offsets_map_back_to_the_original() {
        let original = "Ｐｌｅａｓｅ send 樣品 ASAP, Señor";
        let f = fold(original);
        for needle in ["please", "样品", "asap", "senor"] {
            let at = f.text.find(needle).unwrap();
            let (s, e) = f.original_range(original, at, at + needle.len());
            let back = &original[s..e];
            assert_eq!(fold(back).text, needle, "{needle} ← {back}");
        }
        let at = f.text.find("样品").unwrap();
        let (s, e) = f.original_range(original, at, at + "样品".len());
        assert_eq!(&original[s..e], "樣品");
        // Runs of Han and Cyrillic letters fold in one go and still map back char by char.
        let original = "Срочно НУЖНО報價單x Ёлка";
        let f = fold(original);
        for (needle, written) in [("нужно", "НУЖНО"), ("报价单", "報價單"), ("ёлка", "Ёлка")]
        {
            let at = f.text.find(needle).unwrap();
            let (s, e) = f.original_range(original, at, at + needle.len());
            assert_eq!(&original[s..e], written);
            let (s, e) = f.original_range(original, at + needle.len() / 2, at + needle.len());
            assert!(
                written.ends_with(&original[s..e]),
                "{needle}: {}",
                &original[s..e]
            );
        }
    }
}
