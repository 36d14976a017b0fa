//! Text folding for matching: NFKC (full-width → half-width), case folding, Latin accents
//! dropped, Traditional → Simplified Chinese, with every folded byte mapped back to its
//! offset in the original text so evidence quotes what the customer really wrote.

use unicode_normalization::UnicodeNormalization;

/// Folded text and the map back to the original.
#[derive(Debug, Clone, Default)]
pub struct Folded {
    pub text: String,
    /// `map[i]` is the byte offset in the original of the char that produced folded byte `i`;
    /// `map[text.len()]` is the original's length.
    map: Vec<u32>,
}

impl Folded {
    /// The original byte range of folded range `start..end`.
    pub fn original_range(&self, original: &str, start: usize, end: usize) -> (usize, usize) {
        let s = self.map[start] as usize;
        let last = self.map[end.saturating_sub(1).max(start)] as usize;
        // End at the end of the original char that produced the last folded byte.
        let e = if end > start {
            original[last..]
                .chars()
                .next()
                .map(|c| last + c.len_utf8())
                .unwrap_or(original.len())
        } else {
            s
        };
        (s, e.max(s))
    }
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
        // Typographic apostrophes and quotes as their ASCII forms ("don’t" → "don't").
        '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{FF07}' => {
            out.push('\'');
            return;
        }
        '\u{00A0}' | '\u{3000}' => {
            out.push(' ');
            return;
        }
        _ => {}
    }
    for k in std::iter::once(c).nfkc() {
        for l in k.to_lowercase() {
            if is_latin(l) {
                out.extend(
                    std::iter::once(l)
                        .nfd()
                        .filter(|d| !unicode_normalization::char::is_combining_mark(*d)),
                );
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
    let mut text = String::with_capacity(original.len() + 8);
    let mut map: Vec<u32> = Vec::with_capacity(original.len() + 9);
    let mut has_cjk = false;
    // Pending white space: (offset of its first char, newlines seen).
    let mut space: Option<(usize, usize)> = None;
    let mut prev_cjk = false;
    for (offset, c) in original.char_indices() {
        if c.is_whitespace() && c != '\u{3000}' {
            let s = space.get_or_insert((offset, 0));
            if c == '\n' {
                s.1 += 1;
            }
            continue;
        }
        let cjk = is_cjk(c);
        if let Some((at, newlines)) = space.take()
            && !text.is_empty()
        {
            if newlines >= 2 {
                text.push('\n');
            } else if !(newlines == 1 && prev_cjk && cjk) {
                text.push(' ');
            }
            map.resize(text.len(), at as u32);
        }
        fold_char(c, &mut text);
        has_cjk |= cjk;
        prev_cjk = cjk;
        map.resize(text.len(), offset as u32);
    }
    map.push(original.len() as u32);
    if has_cjk {
        // Traditional → Simplified, char for char (the map stays valid when byte lengths agree;
        // otherwise rebuild it char by char).
        let converted = fast2s::convert(&text);
        if converted.len() == text.len() {
            text = converted;
        } else {
            let mut new_map = Vec::with_capacity(converted.len() + 1);
            let mut old_iter = text.char_indices();
            for c in converted.chars() {
                let (old_off, _) = old_iter.next().unwrap_or((text.len(), ' '));
                let src = map.get(old_off).copied().unwrap_or(original.len() as u32);
                for _ in 0..c.len_utf8() {
                    new_map.push(src);
                }
            }
            new_map.push(original.len() as u32);
            text = converted;
            map = new_map;
        }
    }
    Folded { text, map }
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
    (c.is_alphanumeric() && !is_cjk(c)) || c == '_'
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
    }
}
