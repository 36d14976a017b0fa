//! The first pass over the non-ASCII part of folded text: every literal that holds a
//! non-ASCII character, found by a lookup at each non-ASCII character of the text instead of
//! stepping an automaton through every byte.
//!
//! A literal is filed under the first bytes of its body, the part from its first non-ASCII
//! character: `KEY_LEN` bytes (two Han characters, three Cyrillic letters), else
//! `SHORT_KEY_LEN` (one Han character), else the whole body. At each character of the text that begins with a byte ≥ 0xC0 (found
//! eight bytes at a time), one small filter is asked per key length in use, and only on a hit
//! are the literals filed there compared with the text. ASCII before the body ("ce" of
//! "ce认证") is checked back.
//!
//! Valid UTF-8 text and literals make this exact: every occurrence of a literal has its body
//! start at a character start, so the index finds what a plain search finds, no more.

use super::words::{Lit, Table, filter_bits, has_bit, hash, head_at, set_bit};

/// Bytes of a body a key is taken from; of a body shorter than that.
const KEY_LEN: usize = 6;
const SHORT_KEY_LEN: usize = 3;

/// Literals with a non-ASCII character, filed under the first bytes of their body.
#[derive(Debug, Clone)]
pub struct CharIndex {
    table: Table,
    filter: Vec<u64>,
    /// The key lengths in use (bit k), for literals starting with a two-byte character
    /// (index 0) and with a longer one (index 1): a Chinese character never starts "é".
    lens: [u8; 2],
}

/// The key of the first `k` bytes of `head`.
fn key(head: u64, k: usize) -> u64 {
    (head & ((1u64 << (8 * k)) - 1)) | (k as u64) << 56
}

impl CharIndex {
    /// File `literals`; those without a non-ASCII character are returned by index, unfiled.
    pub fn new(literals: &[&str]) -> (CharIndex, Vec<usize>) {
        let mut keyed = Vec::new();
        let mut unfiled = Vec::new();
        let mut lens = [0u8; 2];
        let mut filter = filter_bits();
        for (id, lit) in literals.iter().enumerate() {
            let bytes = lit.as_bytes();
            let Some(start) = bytes.iter().position(|b| *b >= 0x80) else {
                unfiled.push(id);
                continue;
            };
            let body = &bytes[start..];
            let k = match body.len() {
                n if n >= KEY_LEN => KEY_LEN,
                n if n >= SHORT_KEY_LEN => SHORT_KEY_LEN,
                n => n,
            };
            lens[usize::from(body[0] >= 0xE0)] |= 1 << k;
            let key = key(head_at(body, 0), k);
            set_bit(&mut filter, hash(key));
            keyed.push((key, Lit::new(&bytes[..start], body, id)));
        }
        let index = CharIndex {
            table: Table::new(keyed),
            filter,
            lens,
        };
        (index, unfiled)
    }

    /// Every occurrence (start, end, literal id) of a filed literal in `text`, in order of the
    /// character their body begins at.
    pub fn find(&self, text: &[u8], mut found: impl FnMut(usize, usize, usize)) {
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let mut base = 0;
        while base < text.len() {
            let x = head_at(text, base);
            // Bytes 11xxxxxx: the first byte of a non-ASCII character.
            let mut starts = x & (x << 1) & HIGH;
            while starts != 0 {
                let at = base + starts.trailing_zeros() as usize / 8;
                starts &= starts - 1;
                let head = head_at(text, at);
                let mut lens = self.lens[usize::from(text[at] >= 0xE0)];
                while lens != 0 {
                    let k = lens.trailing_zeros() as usize;
                    lens &= lens - 1;
                    let key = key(head, k);
                    let h = hash(key);
                    if has_bit(&self.filter, h) {
                        self.table.verify(text, at, head, key, h, &mut found);
                    }
                }
            }
            base += 8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(index: &CharIndex, text: &str) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        index.find(text.as_bytes(), |s, e, id| out.push((s, e, id)));
        out.sort_unstable();
        out
    }

    /// Every occurrence of every literal, by plain search.
    fn naive(literals: &[&str], text: &str) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        for (id, lit) in literals.iter().enumerate() {
            if lit.is_ascii() {
                continue;
            }
            for (s, _) in text.char_indices() {
                if text[s..].starts_with(lit) {
                    out.push((s, s + lit.len(), id));
                }
            }
        }
        out.sort_unstable();
        out
    }

    #[test]
    fn it_finds_what_a_plain_search_finds() {
        let literals = [
            "报价",
            "急",
            "ce认证",
            "304还是201",
            "срочно",
            "до",
            "цена за шт",
            "très",
            "ascii only",
            "价格太高了，我们需要更好的价格",
        ];
        let (index, unfiled) = CharIndex::new(&literals);
        assert_eq!(unfiled, vec![8]);
        let texts = [
            "请报价报价，很急急急",
            "需要ce认证和CE认证, xce认证",
            "304还是201? 304还是20",
            "Срочно: срочно! досрочно до",
            "цена за шт. цена за штуку цена за",
            "très très",
            "价格太高了，我们需要更好的价格价格太高了，我们需要更好的价",
            "报",
            "",
            "ascii only",
        ];
        for text in texts {
            assert_eq!(all(&index, text), naive(&literals, text), "{text:?}");
        }
    }

    #[test]
    fn random_literals_over_random_texts_are_all_found() {
        // A small alphabet of one-, two- and three-byte characters makes literals collide with
        // each other and with the text often, across eight-byte blocks.
        let alphabet: Vec<char> = "ab 价格贵дойé.".chars().collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..500 {
            let owned: Vec<String> = (0..1 + next(10))
                .map(|_| {
                    (0..1 + next(7))
                        .map(|_| alphabet[next(alphabet.len())])
                        .collect()
                })
                .collect();
            let literals: Vec<&str> = owned.iter().map(String::as_str).collect();
            let (index, unfiled) = CharIndex::new(&literals);
            for (i, lit) in literals.iter().enumerate() {
                assert_eq!(unfiled.contains(&i), lit.is_ascii());
            }
            let text: String = (0..next(120))
                .map(|_| alphabet[next(alphabet.len())])
                .collect();
            assert_eq!(
                all(&index, &text),
                naive(&literals, &text),
                "{text:?} for {literals:?}"
            );
        }
    }
}
