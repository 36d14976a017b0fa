//! Regex patterns as they run over folded text (`pattern_source`) and the gates that decide
//! whether a pattern runs over a text at all (`gate_literals`): literal sets every match holds,
//! found by the engine's first pass.

use crate::normalize::text::{fold_str, is_word_char};

/// A pattern as it runs over folded text, where it is matched case-sensitively (a
/// case-insensitive regex runs several times slower): ASCII letters lowered (the text's are),
/// character classes case-insensitive (`[^A-Z]` keeps its meaning), non-ASCII characters
/// folded like the text (so "über" finds the folded "uber" and "報價" the folded "报价"), `\b`
/// an ASCII word boundary and `\d` an ASCII digit (the Unicode forms keep the regex engines
/// off their fast DFA path). Escapes and group flags stay as written.
pub(crate) fn pattern_source(pattern: &str) -> String {
    fn fold_char(c: char, out: &mut String) {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if c.is_whitespace() {
            out.push(' ');
        } else {
            out.push_str(&fold_str(c.encode_utf8(&mut [0; 4])));
        }
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    // An escape at `i` ("\\"): copied, with the braces of \p{..} and \x{..}; returns the next
    // index.
    let escape = |i: usize, in_class: bool, out: &mut String| -> usize {
        let Some(&n) = chars.get(i + 1) else {
            out.push('\\');
            return i + 1;
        };
        match n {
            'b' if !in_class => out.push_str("(?-u:\\b)"),
            'd' if in_class => out.push_str("0-9"),
            'd' => out.push_str("[0-9]"),
            _ => {
                out.push('\\');
                out.push(n);
                if matches!(n, 'p' | 'P' | 'x' | 'u' | 'U') && chars.get(i + 2) == Some(&'{') {
                    let mut j = i + 2;
                    while j < chars.len() {
                        out.push(chars[j]);
                        j += 1;
                        if chars[j - 1] == '}' {
                            break;
                        }
                    }
                    return j;
                }
                // "\\pL": a one-letter class name.
                if matches!(n, 'p' | 'P')
                    && let Some(&name) = chars.get(i + 2)
                {
                    out.push(name);
                    return i + 3;
                }
            }
        }
        i + 2
    };
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i = escape(i, false, &mut out),
            '[' => {
                // A class (classes nest), case-insensitive as a whole.
                out.push_str("(?i:[");
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    out.push(']');
                    i += 1;
                }
                let mut depth = 1;
                while i < chars.len() && depth > 0 {
                    match chars[i] {
                        '\\' => {
                            i = escape(i, true, &mut out);
                            continue;
                        }
                        '[' => depth += 1,
                        ']' => depth -= 1,
                        _ => {}
                    }
                    if chars[i].is_ascii() {
                        out.push(chars[i]);
                    } else {
                        fold_char(chars[i], &mut out);
                    }
                    i += 1;
                }
                out.push(')');
            }
            '(' if chars.get(i + 1) == Some(&'?') => {
                // Group flags and names stay as written: "(?U)" is not "(?u)".
                while i < chars.len() {
                    out.push(chars[i]);
                    i += 1;
                    if matches!(chars[i - 1], ':' | ')' | '>') {
                        break;
                    }
                }
            }
            c => {
                fold_char(c, &mut out);
                i += 1;
            }
        }
    }
    out
}

/// A pattern's gate: sets of literals (folded); every match holds one literal of each set, so
/// the pattern runs only on a text in which each set has a hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gate {
    pub(crate) sets: Vec<Vec<String>>,
    /// Each ASCII literal begins where a word of the match begins, so the first pass finds it
    /// at a word start; else the ASCII ones are searched everywhere.
    pub(crate) at_word: bool,
}

/// The gate of a pattern, `None` when the pattern has no finite set of literals (it then runs
/// over every text).
///
/// Candidates: the literals the pattern from one of its parts on starts with, when the text
/// before that part is sure to end with a non-word character (a `\b`, "%", a space), when
/// they open with punctuation before a word (" pcs"), or when they are not ASCII (those are
/// searched wherever non-ASCII text is); and the literals every match ends with, each from the
/// punctuation before its first word that follows punctuation ("5% cheaper" → "% cheaper"). Of
/// these, the most selective sets (`selectivity`), up to three. When none holds, the literals
/// every match ends with, searched everywhere if there are a handful.
pub(crate) fn gate_literals(source: &str) -> Option<Gate> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    use regex_syntax::hir::{Hir, HirKind};
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(source)
        .ok()?;
    // A literal a match starts with may be cut short, one it ends with may lose its head: a
    // literal that starts (ends) with non-ASCII text keeps just that run ("便宜 5" → "便宜"),
    // which the non-ASCII search finds as well and which is one literal instead of twenty.
    let extract = |hir: &Hir, kind: ExtractKind| -> Option<Vec<String>> {
        let prefix = matches!(kind, ExtractKind::Prefix);
        // White space (\s) is a class of 25 chars: expand it, most of them never stand in
        // folded text, and the literals around it are what makes a gate selective.
        let seq = Extractor::new()
            .kind(kind)
            .limit_class(32)
            .limit_total(1000)
            .extract(hir);
        let mut lits = seq
            .literals()?
            .iter()
            .map(|lit| {
                let raw = std::str::from_utf8(lit.as_bytes()).ok()?;
                let mut folded = fold_str(raw);
                // Folding drops white space at the start; here it is part of the literal
                // (the space before " pcs" makes "pcs" a word start).
                if raw.starts_with(char::is_whitespace)
                    && !folded.is_empty()
                    && !folded.starts_with(' ')
                {
                    folded.insert(0, ' ');
                }
                let run = if prefix {
                    folded.split(|c: char| c.is_ascii()).next()
                } else {
                    folded.rsplit(|c: char| c.is_ascii()).next()
                }
                .unwrap_or("");
                let folded = if run.is_empty() {
                    folded.clone()
                } else {
                    run.to_string()
                };
                (!folded.is_empty()).then_some(folded)
            })
            .collect::<Option<Vec<String>>>()?;
        lits.sort();
        lits.dedup();
        (!lits.is_empty()).then_some(lits)
    };
    let parts: &[Hir] = match hir.kind() {
        HirKind::Concat(parts) => parts,
        _ => std::slice::from_ref(&hir),
    };
    let mut candidates: Vec<Vec<String>> = Vec::new();
    for j in 0..parts.len() {
        // What the pattern from this part on starts with.
        let tail = Hir::concat(parts[j..].to_vec());
        let Some(lits) = extract(&tail, ExtractKind::Prefix) else {
            continue;
        };
        // A literal that opens with punctuation and then a word (" pcs") holds its own word
        // start; one that opens with a word needs the text before it to end a word.
        let after_non_word = follows_non_word(&parts[..j]);
        if lits.iter().all(|l| {
            let b = l.as_bytes();
            !l.is_ascii()
                || match b.first() {
                    Some(first) if is_word_byte(*first) => after_non_word,
                    Some(_) => b.iter().any(|c| is_word_byte(*c)),
                    None => false,
                }
        }) {
            candidates.push(lits);
        }
    }
    let suffixes = extract(&hir, ExtractKind::Suffix);
    let cut = suffixes.as_ref().and_then(|lits| {
        let mut cut = lits
            .iter()
            .map(|l| {
                if !l.is_ascii() {
                    return Some(l.clone());
                }
                // From the punctuation before the first word that follows punctuation: the
                // punctuation stays, it makes the literal selective ("% cheaper").
                let b = l.as_bytes();
                let word = (1..b.len()).find(|&i| is_word_byte(b[i]) && !is_word_byte(b[i - 1]))?;
                let lead = (0..word)
                    .rev()
                    .take_while(|&i| !is_word_byte(b[i]))
                    .last()?;
                Some(l[lead..].to_string())
            })
            .collect::<Option<Vec<String>>>()?;
        cut.sort();
        cut.dedup();
        Some(cut)
    });
    candidates.extend(cut);
    let score = |lits: &Vec<String>| lits.iter().map(|l| selectivity(l)).min().unwrap_or(0);
    // Best first; of equals, the earliest part of the pattern.
    candidates.sort_by_key(|lits| std::cmp::Reverse(score(lits)));
    candidates.dedup();
    let mut sets: Vec<Vec<String>> = Vec::new();
    // A set that is another's but for the punctuation before it adds nothing.
    let bare = |lits: &Vec<String>| -> Vec<String> {
        let mut b: Vec<String> = lits
            .iter()
            .map(|l| {
                l.trim_start_matches(|c: char| c.is_ascii() && !is_word_byte(c as u8))
                    .to_string()
            })
            .collect();
        b.sort();
        b.dedup();
        b
    };
    for lits in candidates {
        if sets.is_empty()
            || (sets.len() < 3 && score(&lits) >= 4 && sets.iter().all(|s| bare(s) != bare(&lits)))
        {
            sets.push(lits);
        }
    }
    if sets.is_empty() {
        // Searched everywhere: worth it only for a handful of literals (a thousand numbers
        // from `\d{6,}` would cost more than the pattern).
        return suffixes
            .filter(|literals| literals.len() <= 64)
            .map(|literals| Gate {
                sets: vec![literals],
                at_word: false,
            });
    }
    Some(Gate {
        sets,
        at_word: true,
    })
}

/// How rarely a gate literal is likely to stand in a text: the length of its first word, with
/// punctuation before it counting double ("% off" is rarer than "off"); a literal with
/// non-ASCII text is searched only where such text is, and counts as long.
fn selectivity(literal: &str) -> usize {
    if !literal.is_ascii() {
        return literal.len() + 8;
    }
    let b = literal.as_bytes();
    let lead = b.iter().take_while(|c| !is_word_byte(**c)).count();
    let word = b[lead..].iter().take_while(|c| is_word_byte(**c)).count();
    2 * lead + word
}

/// Is the text matched by `parts` (a pattern's leading parts) sure to end with a non-word
/// character, or with a word boundary, whenever what follows starts with a word character?
fn follows_non_word(parts: &[regex_syntax::hir::Hir]) -> bool {
    use regex_syntax::hir::{HirKind, Look};
    for part in parts.iter().rev() {
        if let HirKind::Look(look) = part.kind()
            && matches!(
                look,
                Look::WordAscii | Look::WordUnicode | Look::WordStartAscii | Look::WordStartUnicode
            )
        {
            return true;
        }
        if !ends_non_word(part) {
            return false;
        }
        if part.properties().minimum_len().is_some_and(|n| n > 0) {
            return true;
        }
    }
    false
}

/// Does every non-empty match of `hir` end with a character that is no word character?
fn ends_non_word(hir: &regex_syntax::hir::Hir) -> bool {
    use regex_syntax::hir::{Class, HirKind};
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(lit) => std::str::from_utf8(&lit.0)
            .ok()
            .and_then(|s| s.chars().last())
            .is_some_and(|c| !is_word_char(c)),
        HirKind::Class(Class::Unicode(class)) => class.ranges().iter().all(|r| {
            (r.end() as u32) - (r.start() as u32) < 4096
                && (r.start()..=r.end()).all(|c| !is_word_char(c))
        }),
        HirKind::Class(Class::Bytes(class)) => class
            .ranges()
            .iter()
            .all(|r| (r.start()..=r.end()).all(|b| b < 0x80 && !is_word_byte(b))),
        HirKind::Repetition(rep) => ends_non_word(&rep.sub),
        HirKind::Capture(cap) => ends_non_word(&cap.sub),
        HirKind::Alternation(alts) => alts.iter().all(ends_non_word),
        HirKind::Concat(parts) => {
            for part in parts.iter().rev() {
                if !ends_non_word(part) {
                    return false;
                }
                if part.properties().minimum_len().is_some_and(|n| n > 0) {
                    return true;
                }
            }
            true
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn a_pattern_runs_case_sensitively_over_folded_text_as_written() {
        assert_eq!(pattern_source(r"Price\b"), "price(?-u:\\b)");
        assert_eq!(pattern_source(r"[^A-Z]\d"), "(?i:[^A-Z])[0-9]");
        assert_eq!(pattern_source(r"[\dA]"), "(?i:[0-9A])");
        assert_eq!(pattern_source(r"(?U)A\PL\p{Han}"), "(?U)a\\PL\\p{Han}");
        assert_eq!(pattern_source("ÜBER 報價"), "uber 报价");
        // On folded text it finds what the written pattern finds case-insensitively.
        for (pattern, texts) in [
            (r"\bPO\b", &["po 12", "the PO", "pos", "Po."][..]),
            (r"[A-Z]{2}\d+", &["AB12", "ab12", "a12", "x-Y9"][..]),
            (r"[^A-Z ]+ Price", &["3 price", "new Price", "ab price"][..]),
            (r"über|Größe", &["Über", "GRÖßE", "grose", "ueber"][..]),
        ] {
            let ours = Regex::new(&pattern_source(pattern)).unwrap();
            let written = regex::RegexBuilder::new(pattern)
                .case_insensitive(true)
                .build()
                .unwrap();
            for text in texts {
                let folded = fold_str(text);
                assert_eq!(
                    ours.is_match(&folded),
                    written.is_match(text) || written.is_match(&folded),
                    "{pattern} on {text:?}"
                );
            }
        }
    }

    #[test]
    fn gates_begin_at_a_word_start_of_every_match() {
        let gate = |p: &str| gate_literals(&pattern_source(p)).unwrap();
        // What a part of the pattern that opens with punctuation and a word starts with.
        let g = gate(r"\d+ ?% (cheaper|Lower)\b");
        assert_eq!(
            g.sets[0],
            [" % cheaper", " % lower", "% cheaper", "% lower"]
        );
        assert!(g.at_word);
        assert_eq!(gate(r"\d+ ?% über").sets, [[" % uber", "% uber"]]);
        // What the pattern starts with, when it opens at a word boundary, and what its later
        // parts start with: each set must have a hit.
        let g = gate(r"\b(under|below) (usd|eur)");
        assert_eq!(
            g.sets,
            [
                vec!["below eur", "below usd", "under eur", "under usd"],
                vec![" eur", " usd"]
            ]
        );
        // A part after punctuation or white space that is sure to be there.
        let g = gate(r"\d+(\.\d+)?\s?(%|％)\s?(off|discount|lower)");
        assert_eq!(
            g.sets[0],
            [
                "% discount",
                "% lower",
                "% off",
                "%discount",
                "%lower",
                "%off"
            ]
        );
        // Non-ASCII prefixes need no word boundary.
        assert_eq!(gate(r"(减|降|便宜) ?\d+ ?%").sets[0], ["便宜", "减", "降"]);
        // No word start to be sure of: the suffixes, searched everywhere.
        let g = gate(r"\d+[a-z]*\s?(sets|pcs)");
        assert!(!g.at_word);
        assert_eq!(g.sets, [[" pcs", " sets", "pcs", "sets"]]);
        // A literal with its own word start: the space before a word.
        assert_eq!(gate(r"\d+ pcs.*").sets, [[" pcs"]]);
        // A pattern with no literal, or too many to search for everywhere, has no gate.
        assert_eq!(gate_literals(&pattern_source(r"\w+")), None);
        assert_eq!(gate_literals(&pattern_source(r"\d{6,}")), None);
    }
}
