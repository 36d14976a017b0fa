//! The first pass over the ASCII part of folded text: every literal that begins at a word start,
//! found by looking once at each word start instead of stepping an automaton through every byte.
//!
//! A literal is filed under its first word: the first four bytes of it (fewer when the word is
//! shorter). At each word start of the text (found eight bytes at a time), the word's first
//! bytes are looked up in a small filter, and only on a hit are the literals filed there
//! compared with the text. A literal that starts with punctuation ("/ce") is filed under the
//! word that follows it and checked back for the punctuation.
//!
//! What it finds is a superset of the occurrences that can pass a word-boundary check: every
//! occurrence of a literal whose first word begins where an ASCII word begins (after a
//! non-word character, a non-ASCII character or the start of the text). The caller checks
//! boundaries, as it does for the automaton's matches.

use crate::normalize::text::bytes_in;

/// One literal as filed: the part from where it is looked up (its body) and what stands before.
#[derive(Debug, Clone)]
pub(super) struct Lit {
    /// The first eight bytes of the body (zero padded) and the mask of the bytes that count.
    head: u64,
    head_mask: u64,
    /// Bytes 8 to 15 of the body (zero padded) and the mask of those that count, compared
    /// in place (most literals end there) before the bytes after them.
    next: u64,
    next_mask: u64,
    /// The bytes after the sixteenth.
    rest: Box<[u8]>,
    /// The body's length.
    len: usize,
    /// What must stand right before the body ("/" of "/ce").
    lead: Box<[u8]>,
    /// The caller's id.
    id: usize,
}

impl Lit {
    pub(super) fn new(lead: &[u8], body: &[u8], id: usize) -> Lit {
        let n = body.len().min(8);
        let after = &body[n..];
        let m = after.len().min(8);
        Lit {
            head: u64::from_le_bytes(head_of(body)),
            head_mask: byte_mask(n),
            next: u64::from_le_bytes(head_of(after)),
            next_mask: byte_mask(m),
            rest: after[m..].into(),
            len: body.len(),
            lead: lead.into(),
            id,
        }
    }
}

/// The mask of the first `n` (≤ 8) bytes of a little-endian u64.
fn byte_mask(n: usize) -> u64 {
    if n >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * n)) - 1
    }
}

/// A literal the index cannot file: it has no ASCII word character to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unfiled(pub usize);

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// 0 = empty.
    key: u64,
    lo: u32,
    hi: u32,
}

/// Literals filed under keys (never 0), the literals of one key side by side, found through an
/// open-addressing table.
#[derive(Debug, Clone)]
pub(super) struct Table {
    lits: Vec<Lit>,
    slots: Vec<Slot>,
}

impl Table {
    pub(super) fn new(mut keyed: Vec<(u64, Lit)>) -> Table {
        keyed.sort_by_key(|(key, lit)| (*key, lit.id));
        let keys = keyed.windows(2).filter(|w| w[0].0 != w[1].0).count() + 1;
        let size = (keys * 4).next_power_of_two().max(64);
        let mut slots = vec![Slot::default(); size];
        let mut lits = Vec::with_capacity(keyed.len());
        let mut i = 0;
        while i < keyed.len() {
            let key = keyed[i].0;
            let lo = lits.len();
            while i < keyed.len() && keyed[i].0 == key {
                lits.push(keyed[i].1.clone());
                i += 1;
            }
            let mut at = slot_of(hash(key), size - 1);
            while slots[at].key != 0 {
                at = (at + 1) & (size - 1);
            }
            slots[at] = Slot {
                key,
                lo: lo as u32,
                hi: lits.len() as u32,
            };
        }
        Table { lits, slots }
    }

    /// The literals filed under `key` (hash `h`) whose body stands at `at` (`head`: the eight
    /// bytes there, zero padded) with their lead before it.
    #[inline(never)]
    pub(super) fn verify(
        &self,
        text: &[u8],
        at: usize,
        head: u64,
        key: u64,
        h: u64,
        found: &mut impl FnMut(usize, usize, usize),
    ) {
        let mask = self.slots.len() - 1;
        let mut i = slot_of(h, mask);
        let slot = loop {
            let slot = self.slots[i];
            if slot.key == key {
                break slot;
            }
            if slot.key == 0 {
                return;
            }
            i = (i + 1) & mask;
        };
        for lit in &self.lits[slot.lo as usize..slot.hi as usize] {
            if head & lit.head_mask != lit.head
                || (lit.len > 8
                    && (at + lit.len > text.len()
                        || head_at(text, at + 8) & lit.next_mask != lit.next
                        || (lit.len > 16
                            && text.get(at + 16..at + lit.len) != Some(&lit.rest[..]))))
            {
                continue;
            }
            let lead = lit.lead.len();
            if lead > 0 && (at < lead || text[at - lead..at] != lit.lead[..]) {
                continue;
            }
            found(at - lead, at + lit.len, lit.id);
        }
    }
}

/// Literals filed under the first bytes of their first word.
#[derive(Debug, Clone)]
pub struct WordIndex {
    table: Table,
    /// A bit per key (hashed) under which a literal of fewer than `PAIR_END` bytes is filed.
    filter: Vec<u64>,
    /// A bit per key and the two bytes that follow its first four (hashed), for the literals
    /// of `PAIR_END` bytes or more: a common first word ("the ", "we n") is looked up only
    /// where the next bytes fit one of its literals too.
    pair_filter: Vec<u64>,
    /// Bit k (1..=3): a literal whose first word has k bytes may stand at the start of a longer
    /// word (a prefix keyword, a pattern's gate), so words longer than k look there too.
    short_prefix: u8,
    /// Per length k (1..=3) of such a first word, a bit per `short_slot` of the ones in use:
    /// most word starts are turned away by one bit test, without a lookup.
    short_filter: [Vec<u64>; 4],
    /// A bit per `short_slot` of three bytes that any of those short first words may begin:
    /// one test turns away nearly every word start before the tests per length.
    short_any: Vec<u64>,
}

const FILTER_BITS: u32 = 16;

/// Literals of at least this many bytes are also filtered by their bytes 4 and 5.
const PAIR_END: usize = 6;

/// Bytes 4 and 5 of the eight at a word start, next to a key (which uses bits 0..36).
fn pair_key(key: u64, head: u64) -> u64 {
    key | (head >> 32 & 0xffff) << 40
}

/// An empty filter.
pub(super) fn filter_bits() -> Vec<u64> {
    vec![0u64; 1 << (FILTER_BITS - 6)]
}

/// Set the filter bit of hash `h`.
pub(super) fn set_bit(filter: &mut [u64], h: u64) {
    let f = (h >> (64 - FILTER_BITS)) as usize;
    filter[f >> 6] |= 1 << (f & 63);
}

pub(super) fn has_bit(filter: &[u64], h: u64) -> bool {
    let f = (h >> (64 - FILTER_BITS)) as usize;
    filter[f >> 6] & (1 << (f & 63)) != 0
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A hash of a key: its bits from 32 on (the table's slot, the filters' bit) depend on every
/// byte of the first four and on the bytes of the key below them.
pub(super) fn hash(key: u64) -> u64 {
    key.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The table slot of hash `h` in a table of `mask + 1` (≤ 2^16) slots.
fn slot_of(h: u64, mask: usize) -> usize {
    (h >> 32) as usize & mask
}

/// How a literal is filed.
#[derive(Debug, Clone, Copy)]
enum Key {
    /// Under its first four bytes (four bytes or more, and its first word is at least that
    /// long or ends inside the literal): found by the first four bytes at a word start.
    Raw,
    /// Under its first word, shorter than four bytes and whole: found where a word is just
    /// that.
    Word,
    /// Under its first word, shorter than four bytes, which may go on ("max" of "maxusd").
    Prefix,
}

/// The key of the first bytes of `bytes`: four raw bytes, or a first word of `word` bytes
/// (below 4), with the kind.
fn key(head: u64, kind: Key, word: usize) -> u64 {
    match kind {
        Key::Raw => (head & 0xffff_ffff) | 4 << 32,
        Key::Word => (head & KEY_MASKS[word]) | (word as u64) << 32 | 1 << 35,
        Key::Prefix => (head & KEY_MASKS[word]) | (word as u64) << 32,
    }
}

/// The key a literal is filed under.
fn key_of(body: &[u8], kind: Key) -> u64 {
    let head = head_of(body);
    let word = body.iter().take_while(|b| is_word_byte(**b)).count().min(4);
    key(u64::from_le_bytes(head), kind, word)
}

impl WordIndex {
    /// File `literals` (ASCII; `whole` says the literal's first word must be a whole word of
    /// the text: a word boundary follows it, so "our" never needs looking up in "ours").
    /// Returns the index and the literals it cannot file.
    pub fn new(literals: &[(&str, bool)]) -> (WordIndex, Vec<Unfiled>) {
        let mut unfiled = Vec::new();
        let mut keyed: Vec<(u64, Lit)> = Vec::new();
        let mut short_prefix = 0u8;
        let mut short_filter: [Vec<u64>; 4] = std::array::from_fn(|_| vec![0u64; SHORT_SLOTS / 64]);
        for (id, (text, whole)) in literals.iter().enumerate() {
            let bytes = text.as_bytes();
            // The literal's first word start: its first byte, or the first word byte after
            // punctuation.
            let Some(start) = (0..bytes.len())
                .find(|&i| is_word_byte(bytes[i]) && (i == 0 || !is_word_byte(bytes[i - 1])))
            else {
                unfiled.push(Unfiled(id));
                continue;
            };
            if !bytes.is_ascii() || (start > 0 && bytes[..start].iter().any(|b| is_word_byte(*b))) {
                unfiled.push(Unfiled(id));
                continue;
            }
            let body = &bytes[start..];
            let word = body.iter().take_while(|b| is_word_byte(**b)).count();
            // A first word followed by punctuation inside the literal is whole in the text.
            let whole = *whole || word < body.len();
            // Filed under its first four bytes ("we n" of "we need": the space after a whole
            // word is in the text too), else (shorter) under its first word.
            let key = if body.len() >= 4 && (word >= 4 || whole) {
                Key::Raw
            } else if whole {
                Key::Word
            } else {
                short_prefix |= 1 << word;
                let slot = short_slot(u64::from_le_bytes(head_of(body)), word);
                short_filter[word][slot >> 6] |= 1 << (slot & 63);
                Key::Prefix
            };
            keyed.push((key_of(body, key), Lit::new(&bytes[..start], body, id)));
        }
        // The slots of three bytes whose first k bytes are in the filter of length k.
        let mut short_any = vec![0u64; SHORT_SLOTS / 64];
        for (k, bits) in short_filter.iter().enumerate().skip(1) {
            for slot in 0..SHORT_SLOTS {
                let low = slot & ((1 << (5 * k)) - 1);
                if bits[low >> 6] & (1 << (low & 63)) != 0 {
                    short_any[slot >> 6] |= 1 << (slot & 63);
                }
            }
        }
        let mut filter = filter_bits();
        let mut pair_filter = filter_bits();
        for (key, lit) in &keyed {
            if lit.len >= PAIR_END {
                set_bit(&mut pair_filter, hash(pair_key(*key, lit.head)));
            } else {
                set_bit(&mut filter, hash(*key));
            }
        }
        (
            WordIndex {
                table: Table::new(keyed),
                filter,
                pair_filter,
                short_prefix,
                short_filter,
                short_any,
            },
            unfiled,
        )
    }

    /// Every occurrence (start, end, literal id) of a filed literal whose first word begins at
    /// a word start of `text`, in no particular order within one word start.
    pub fn find(&self, text: &[u8], mut found: impl FnMut(usize, usize, usize)) {
        let n = text.len();
        let mut carry = 0u64;
        let mut base = 0;
        while base < n {
            let end = (base + 64).min(n);
            let words = word_mask(&text[base..end]);
            let mut starts = words & !((words << 1) | carry);
            carry = words >> 63;
            while starts != 0 {
                let p = starts.trailing_zeros() as usize;
                starts &= starts - 1;
                let at = base + p;
                // The word's length, up to 4 (it may run into the next block).
                let mut len = ((!(words >> p)).trailing_zeros() as usize).min(64 - p);
                if p + len == 64 {
                    while len < 4 && at + len < n && is_word_byte(text[at + len]) {
                        len += 1;
                    }
                }
                self.probe(text, at, len.min(4), &mut found);
            }
            base = end;
        }
    }

    /// Look up the literals that may start at word start `at`, of a word `len` bytes long
    /// (counted up to 4).
    #[inline(always)]
    fn probe(
        &self,
        text: &[u8],
        at: usize,
        len: usize,
        found: &mut impl FnMut(usize, usize, usize),
    ) {
        let head = head_at(text, at);
        // The literals of four bytes or more that start here.
        self.lookup(text, at, head, key(head, Key::Raw, 4), found);
        // A short word: the literals that are this whole word.
        if len < 4 {
            self.lookup(text, at, head, key(head, Key::Word, len), found);
        }
        // Short first words that may go on ("max" of "maxusd"): one lookup per length in use.
        // The slot of the first k bytes is the low 5k bits of the slot of the first three.
        let three = short_slot(head, 3);
        if self.short_any[three >> 6] & (1 << (three & 63)) == 0 {
            return;
        }
        let mut shorter = self.short_prefix & ((2u8 << len.min(3)) - 1);
        while shorter != 0 {
            let k = shorter.trailing_zeros() as usize;
            shorter &= shorter - 1;
            let slot = three & ((1 << (5 * k)) - 1);
            if self.short_filter[k][slot >> 6] & (1 << (slot & 63)) != 0 {
                self.lookup(text, at, head, key(head, Key::Prefix, k), found);
            }
        }
    }

    #[inline(always)]
    fn lookup(
        &self,
        text: &[u8],
        at: usize,
        head: u64,
        key: u64,
        found: &mut impl FnMut(usize, usize, usize),
    ) {
        let h = hash(key);
        if has_bit(&self.filter, h) || has_bit(&self.pair_filter, hash(pair_key(key, head))) {
            self.table.verify(text, at, head, key, h, found);
        }
    }
}

/// Slots of a short-word filter: five bits of each of up to three bytes.
const SHORT_SLOTS: usize = 1 << 15;

/// The short-word filter slot of the first `k` (≤ 3) bytes of `head`: five bits of each, the
/// first byte's lowest (so the slot of fewer bytes is the low bits of the slot of more).
fn short_slot(head: u64, k: usize) -> usize {
    let h = head & KEY_MASKS[k];
    ((h & 0x1f) | ((h >> 3) & 0x3e0) | ((h >> 6) & 0x7c00)) as usize
}

/// The eight bytes of `text` from `at` (little-endian), zero padded.
pub(super) fn head_at(text: &[u8], at: usize) -> u64 {
    match text.get(at..at + 8) {
        Some(b) => u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        None => u64::from_le_bytes(head_of(&text[at.min(text.len())..])),
    }
}

/// The first eight bytes of `bytes`, zero padded.
pub(super) fn head_of(bytes: &[u8]) -> [u8; 8] {
    let mut head = [0u8; 8];
    let n = bytes.len().min(8);
    head[..n].copy_from_slice(&bytes[..n]);
    head
}

/// The bytes of a key of 0..=4 bytes.
const KEY_MASKS: [u64; 5] = [0, 0xff, 0xffff, 0xff_ffff, 0xffff_ffff];

/// Bit i set when `block[i]` is an ASCII word byte (letter, digit, '_'); `block` ≤ 64 bytes.
fn word_mask(block: &[u8]) -> u64 {
    let mut mask = 0u64;
    let mut chunks = block.chunks_exact(8);
    let mut shift = 0;
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        mask |= word_mask8(x) << shift;
        shift += 8;
    }
    for (i, b) in chunks.remainder().iter().enumerate() {
        if is_word_byte(*b) {
            mask |= 1 << (shift + i);
        }
    }
    mask
}

/// `word_mask` of eight bytes (little-endian), without branches: each byte's range tests run
/// side by side in one u64 (no byte's sum carries into the next: every byte is below 0x80 once
/// the high bits are cleared).
fn word_mask8(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let ascii = !x & HIGH;
    let y = x & !HIGH;
    let letter_or_digit =
        bytes_in(y, b'a', b'z') | bytes_in(y, b'A', b'Z') | bytes_in(y, b'0', b'9');
    let word = (letter_or_digit | bytes_in(y, b'_', b'_')) & ascii;
    // Gather the eight high bits into the low byte.
    ((word >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_of_fewer_bytes_is_the_low_bits_of_the_slot_of_three() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let head = seed & 0x7f7f_7f7f_7f7f_7f7f;
            for k in 1..=3 {
                assert_eq!(
                    short_slot(head, k),
                    short_slot(head, 3) & ((1 << (5 * k)) - 1),
                    "{head:x} k={k}"
                );
            }
        }
    }

    fn all(index: &WordIndex, text: &str) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        index.find(text.as_bytes(), |s, e, id| out.push((s, e, id)));
        out.sort_unstable();
        out
    }

    /// Every occurrence found by plain search whose first word begins at a word start (and,
    /// with `strict`, for a `whole` literal, ends where the text's word ends).
    fn naive(literals: &[(&str, bool)], text: &str, strict: bool) -> Vec<(usize, usize, usize)> {
        let b = text.as_bytes();
        let mut out = Vec::new();
        for (id, (lit, whole)) in literals.iter().enumerate() {
            let l = lit.as_bytes();
            let lead = l.iter().take_while(|c| !is_word_byte(**c)).count();
            if lead == l.len() {
                continue;
            }
            let word = l[lead..].iter().take_while(|c| is_word_byte(**c)).count();
            for s in 0..b.len() {
                let w = s + lead;
                let after = b.get(w + word).copied().unwrap_or(b' ');
                if b[s..].starts_with(l)
                    && (w == 0 || !is_word_byte(b[w - 1]))
                    && !(strict && *whole && is_word_byte(after))
                {
                    out.push((s, s + l.len(), id));
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// What the index finds lies between the occurrences that can pass a boundary check and
    /// all occurrences at word starts.
    fn check(index: &WordIndex, literals: &[(&str, bool)], text: &str) {
        let got = all(index, text);
        let loose = naive(literals, text, false);
        for hit in naive(literals, text, true) {
            assert!(got.contains(&hit), "{hit:?} missed in {text:?}");
        }
        for hit in &got {
            assert!(loose.contains(hit), "{hit:?} is no occurrence in {text:?}");
        }
    }

    #[test]
    fn the_word_mask_marks_letters_digits_and_underscores_only() {
        let all: Vec<u8> = (0..=255u8).collect();
        for block in all.chunks(64) {
            let mask = word_mask(block);
            for (i, b) in block.iter().enumerate() {
                assert_eq!(mask >> i & 1 == 1, is_word_byte(*b), "byte {b:#x}");
            }
        }
        // Odd lengths take the byte-by-byte tail.
        let m = word_mask(b"ab cd_9!x");
        assert_eq!(m, 0b1_0111_1011);
    }

    #[test]
    fn it_finds_what_a_plain_search_finds_at_word_starts() {
        let literals: &[(&str, bool)] = &[
            ("po", true),
            ("price", true),
            ("price list", true),
            ("discount", false),
            ("our budget", true),
            ("/ce", false),
            ("& ce", false),
            ("off", false),
            ("a", true),
            ("a very long literal over eight bytes", true),
            ("minimum order", true),
            ("sixteen bytes ok", true),
            ("de", false),
            ("q", false),
            ("e.g.", true),
            ("12%", false),
        ];
        let (index, unfiled) = WordIndex::new(literals);
        assert!(unfiled.is_empty());
        let texts = [
            "po",
            "the po is ready, see po#12 and (po) not report or possible",
            "price list price-list pricelist price listing",
            "discounts discount discounted undiscounted",
            "our budget ours budget our budgetary",
            "ul/ce mark and ul & ce and /ce at start",
            "offer off office, 12% off 112% 12%",
            "a a. aa ba a very long literal over eight bytes a very long literal over eight",
            "e.g. xe.g. e.g",
            "minimum order, minimum orders minimum ordex minimum orde",
            "sixteen bytes ok sixteen bytes o sixteen bytes okay sixteen bytes ok",
            "de del delivery desde ode q qty quick aq q. iq de",
            "\u{e9}po \u{4ef7}po po\u{e9}",
            "",
            "p",
        ];
        for text in texts {
            check(&index, literals, text);
        }
    }

    #[test]
    fn words_across_block_boundaries_are_found() {
        let literals: &[(&str, bool)] = &[("abcdef", true), ("ab", true), ("abc", false)];
        let (index, _) = WordIndex::new(literals);
        for pad in 55..70 {
            let text = format!("{} abcdef ab abc abcx", "z".repeat(pad));
            check(&index, literals, &text);
        }
    }

    #[test]
    fn random_literals_over_random_texts_keep_the_contract() {
        // A small alphabet makes literals collide with each other and with the text often.
        let alphabet = b"abcab xy.%-\n";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..300 {
            let mut owned: Vec<(String, bool)> = Vec::new();
            for _ in 0..1 + next(12) {
                let len = 1 + next(10);
                let lit: String = (0..len)
                    .map(|_| alphabet[next(alphabet.len())] as char)
                    .collect();
                owned.push((lit, next(2) == 0));
            }
            let literals: Vec<(&str, bool)> = owned.iter().map(|(l, w)| (l.as_str(), *w)).collect();
            let (index, unfiled) = WordIndex::new(&literals);
            let text: String = (0..next(200))
                .map(|_| alphabet[next(alphabet.len())] as char)
                .collect();
            let got = all(&index, &text);
            let filed: Vec<(&str, bool)> = literals
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    if unfiled.contains(&Unfiled(i)) {
                        ("", l.1)
                    } else {
                        *l
                    }
                })
                .collect();
            for hit in naive(&filed, &text, true) {
                assert!(
                    got.contains(&hit),
                    "{hit:?} missed in {text:?} for {literals:?}"
                );
            }
            let loose = naive(&filed, &text, false);
            for hit in &got {
                assert!(loose.contains(hit), "{hit:?} in {text:?} for {literals:?}");
            }
        }
    }

    #[test]
    fn literals_without_a_word_are_left_to_the_caller() {
        let (_, unfiled) = WordIndex::new(&[("$$", true), ("ok", true), ("...", false)]);
        assert_eq!(unfiled, vec![Unfiled(0), Unfiled(2)]);
    }
}
