//! The matching engine: one aho-corasick automaton for every keyword of every rule and one
//! `RegexSet` for every pattern, run over folded text; hits are checked for word boundaries,
//! negation cues and exclusions, and carry evidence quoted from the original text.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::{Regex, RegexSet, RegexSetBuilder};
use serde::Serialize;

use super::parse::{Rule, RuleProblem};
use crate::normalize::text::{Folded, fold, fold_str, is_cjk, is_word_char};

/// Which part of a message a hit was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Subject,
    Body,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Subject => "subject",
            Field::Body => "body",
        }
    }
}

/// One rule hit with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    pub tag: String,
    /// `tag/lang/keyword-or-pattern`.
    pub rule: String,
    pub lang: String,
    pub field: Field,
    /// Byte range in the original field text.
    pub start: usize,
    pub end: usize,
    /// The original text of the match.
    pub matched: String,
    /// About 40 characters of context on each side.
    pub evidence: String,
}

/// A term's place: which rule, which term of it, how it must be bounded.
#[derive(Debug, Clone)]
struct TermRef {
    rule: usize,
    term: usize,
    /// A keyword (else a pattern).
    keyword: bool,
    /// A prefix keyword (`скидк*`): the match extends to the end of the word.
    prefix: bool,
    /// Check a word boundary before / after the match (spaced scripts only).
    bound_start: bool,
    bound_end: bool,
}

/// Compiled rules, ready to scan.
#[derive(Debug)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    keywords: Option<AhoCorasick>,
    keyword_refs: Vec<TermRef>,
    patterns: RegexSet,
    pattern_regexes: Vec<Regex>,
    pattern_refs: Vec<TermRef>,
    /// A fingerprint of the rule text, to tell versions apart.
    pub version: String,
}

/// Evidence context on each side of a hit, in characters.
const CONTEXT_CHARS: usize = 40;

impl RuleSet {
    /// Compile parsed rules into one automaton and one regex set.
    pub fn compile(rules: Vec<Rule>) -> Result<RuleSet, Vec<RuleProblem>> {
        let mut literals = Vec::new();
        let mut keyword_refs = Vec::new();
        let mut pattern_src = Vec::new();
        let mut pattern_refs = Vec::new();
        let mut fingerprint = sha2::Sha256::default();
        for (ri, rule) in rules.iter().enumerate() {
            use sha2::Digest;
            // Everything that changes behaviour or output is part of the version.
            fingerprint.update(
                format!(
                    "{}|{}|{}|{}|{}|{}|{:?}|{:?}|{:?}|{}|{:?}",
                    rule.tag,
                    rule.description,
                    rule.ttl_ms,
                    rule.subject,
                    rule.body,
                    rule.outbound_too,
                    rule.next_steps,
                    rule.negation_before,
                    rule.negation_after,
                    rule.window,
                    rule.exclusions
                )
                .as_bytes(),
            );
            for (ti, kw) in rule.keywords.iter().enumerate() {
                fingerprint.update(kw.lang.as_bytes());
                fingerprint.update(kw.text.as_bytes());
                let (text, prefix) = match kw.text.strip_suffix('*') {
                    Some(t) => (t, true),
                    None => (kw.text.as_str(), false),
                };
                let folded = fold_str(text);
                let first = folded.chars().next().unwrap_or(' ');
                let last = folded.chars().last().unwrap_or(' ');
                keyword_refs.push(TermRef {
                    rule: ri,
                    term: ti,
                    keyword: true,
                    prefix: prefix && is_word_char(last),
                    bound_start: is_word_char(first),
                    bound_end: is_word_char(last) && !prefix,
                });
                literals.push(folded);
            }
            for (ti, p) in rule.patterns.iter().enumerate() {
                fingerprint.update(p.text.as_bytes());
                pattern_refs.push(TermRef {
                    rule: ri,
                    term: ti,
                    keyword: false,
                    prefix: false,
                    bound_start: false,
                    bound_end: false,
                });
                pattern_src.push(p.text.clone());
            }
        }
        let keywords = if literals.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .build(&literals)
                    .map_err(|e| {
                        vec![RuleProblem {
                            file: "rules".into(),
                            line: 0,
                            message: format!("cannot build the keyword automaton: {e}"),
                        }]
                    })?,
            )
        };
        let build_err = |e: regex::Error| {
            vec![RuleProblem {
                file: "rules".into(),
                line: 0,
                message: format!("cannot build the pattern set: {e}"),
            }]
        };
        let patterns = RegexSetBuilder::new(&pattern_src)
            .case_insensitive(true)
            .build()
            .map_err(build_err)?;
        let pattern_regexes = pattern_src
            .iter()
            .map(|p| regex::RegexBuilder::new(p).case_insensitive(true).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(build_err)?;
        use sha2::Digest;
        let version = hex::encode(&fingerprint.finalize()[..6]);
        Ok(RuleSet {
            rules,
            keywords,
            keyword_refs,
            patterns,
            pattern_regexes,
            pattern_refs,
            version,
        })
    }

    /// Every hit in one field's text (no direction gating).
    pub fn scan(&self, original: &str, field: Field) -> Vec<Hit> {
        if original.trim().is_empty() {
            return Vec::new();
        }
        let folded = fold(original);
        let text = folded.text.as_str();
        let mut candidates: Vec<(usize, usize, &TermRef)> = Vec::new();
        if let Some(ac) = &self.keywords {
            for m in ac.find_overlapping_iter(text) {
                let r = &self.keyword_refs[m.pattern().as_usize()];
                if r.bound_start
                    && text[..m.start()]
                        .chars()
                        .next_back()
                        .is_some_and(is_word_char)
                {
                    continue;
                }
                if r.bound_end && text[m.end()..].chars().next().is_some_and(is_word_char) {
                    continue;
                }
                let end = if r.prefix {
                    m.end()
                        + text[m.end()..]
                            .chars()
                            .take_while(|c| is_word_char(*c))
                            .map(char::len_utf8)
                            .sum::<usize>()
                } else {
                    m.end()
                };
                candidates.push((m.start(), end, r));
            }
        }
        for idx in self.patterns.matches(text).iter() {
            for m in self.pattern_regexes[idx].find_iter(text) {
                if m.start() < m.end() {
                    candidates.push((m.start(), m.end(), &self.pattern_refs[idx]));
                }
            }
        }
        let mut hits = Vec::new();
        for (start, end, r) in candidates {
            let rule = &self.rules[r.rule];
            if field == Field::Subject && !rule.subject || field == Field::Body && !rule.body {
                continue;
            }
            if excluded(text, start, end, &rule.exclusions) || negated(text, start, end, rule) {
                continue;
            }
            let term = if r.keyword {
                &rule.keywords[r.term]
            } else {
                &rule.patterns[r.term]
            };
            hits.push(evidence(original, &folded, start, end, rule, term, field));
        }
        hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
        hits.dedup_by(|a, b| a.tag == b.tag && a.start == b.start && a.end == b.end);
        hits
    }

    /// Tag a message: subject (unless it is a reply or forward of someone else's subject) and
    /// body. Returns every hit; callers group them by tag.
    pub fn tag_message(&self, subject: &str, body: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        if !is_reply_subject(subject) {
            hits.extend(self.scan(subject, Field::Subject));
        }
        hits.extend(self.scan(body, Field::Body));
        hits
    }

    pub fn rule(&self, tag: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.tag == tag)
    }
}

/// Subjects that carry someone else's words: "Re:", "Fwd:", "回复：", "答复:", "转发:", "AW:", ...
pub fn is_reply_subject(subject: &str) -> bool {
    let s = subject.trim_start().to_lowercase();
    const PREFIXES: &[&str] = &[
        "re:",
        "re :",
        "re[",
        "fw:",
        "fwd:",
        "fw :",
        "aw:",
        "wg:",
        "sv:",
        "vs:",
        "rv:",
        "res:",
        "enc:",
        "tr:",
        "ynt:",
        "ilt:",
        "i̇lt:",
        "odp:",
        "ответ:",
        "отв:",
        "re：",
        "回复",
        "回覆",
        "答复",
        "答覆",
        "转发",
        "轉寄",
        "转寄",
        "轉發",
        "返信:",
        "転送:",
        "رد:",
        "إعادة توجيه:",
    ];
    PREFIXES.iter().any(|p| s.starts_with(p))
}

/// Is the hit inside one of the rule's exclusion phrases?
fn excluded(text: &str, start: usize, end: usize, exclusions: &[String]) -> bool {
    exclusions.iter().any(|e| {
        let from = floor_char(text, start.saturating_sub(e.len()));
        let to = ceil_char(text, (end + e.len()).min(text.len()));
        let window = &text[from..to];
        let mut search = 0;
        while let Some(pos) = window[search..].find(e.as_str()) {
            let s = from + search + pos;
            let en = s + e.len();
            if s <= start && en >= end {
                return true;
            }
            search += pos + e.len().max(1);
            if search >= window.len() {
                break;
            }
        }
        false
    })
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Characters that end a clause: a negation never reaches across them.
fn is_clause_break(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '?' | ';' | '\n' | '。' | '！' | '？' | '；' | ',' | '，' | '、' | ':' | '：'
    )
}

/// Does a negation cue stand before (or after) the hit in the same clause?
fn negated(text: &str, start: usize, end: usize, rule: &Rule) -> bool {
    // The clause before the hit, at most `window` characters.
    let before: String = {
        let mut chars: Vec<char> = Vec::new();
        for c in text[..start].chars().rev() {
            if is_clause_break(c) || chars.len() >= rule.window {
                break;
            }
            chars.push(c);
        }
        chars.into_iter().rev().collect()
    };
    let after: String = text[end..]
        .chars()
        .take_while(|c| !is_clause_break(*c))
        .take(rule.window)
        .collect();
    // Chinese words that contain 不/没 but negate nothing: questions (能不能, 是不是, 有没有) and
    // set phrases (不少 "quite a few", 不错 "good", 不过 "but").
    const NOT_NEGATIONS: &[&str] = &[
        "能不能",
        "可不可",
        "是不是",
        "要不要",
        "会不会",
        "有没有",
        "好不好",
        "行不行",
        "对不对",
        "不少",
        "不错",
        "不过",
        "不但",
        "不仅",
        "不断",
        "不好意思",
        "可唔可",
        "系唔系",
    ];
    let clean = |s: &str| -> String {
        let mut out = s.to_string();
        for n in NOT_NEGATIONS {
            out = out.replace(n, "  ");
        }
        out
    };
    let before = clean(&before);
    let after = clean(&after);
    let cjk_before: String = before
        .chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let cue_in = |hay: &str, cue: &str, near_end: bool| -> bool {
        if cue.chars().any(is_cjk) {
            // CJK cues must stand close: "不急", "不需要样品", "样品不需要".
            if near_end {
                cjk_before.contains(cue)
            } else {
                hay.chars().take(8).collect::<String>().contains(cue)
            }
        } else {
            contains_word(hay, cue)
        }
    };
    rule.negation_before
        .iter()
        .any(|cue| cue_in(&before, cue, true))
        || rule
            .negation_after
            .iter()
            .any(|cue| cue_in(&after, cue, false))
}

/// Is `word` in `hay` on word boundaries?
pub fn contains_word(hay: &str, word: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = hay[from..].find(word) {
        let s = from + pos;
        let e = s + word.len();
        let ok_start = !word.chars().next().is_some_and(is_word_char)
            || !hay[..s].chars().next_back().is_some_and(is_word_char);
        let ok_end = !word.chars().last().is_some_and(is_word_char)
            || !hay[e..].chars().next().is_some_and(is_word_char);
        if ok_start && ok_end {
            return true;
        }
        from = s + word.chars().next().map(char::len_utf8).unwrap_or(1);
    }
    false
}

fn evidence(
    original: &str,
    folded: &Folded,
    start: usize,
    end: usize,
    rule: &Rule,
    term: &super::parse::Term,
    field: Field,
) -> Hit {
    let (s, e) = folded.original_range(original, start, end);
    let before: String = original[..s]
        .chars()
        .rev()
        .take(CONTEXT_CHARS)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let after: String = original[e..].chars().take(CONTEXT_CHARS).collect();
    let cut_before = before.chars().count() == CONTEXT_CHARS && s > before.len();
    let cut_after = after.chars().count() == CONTEXT_CHARS && e + after.len() < original.len();
    let mut snippet = String::new();
    if cut_before {
        snippet.push('…');
    }
    snippet.push_str(&before);
    snippet.push_str(&original[s..e]);
    snippet.push_str(&after);
    if cut_after {
        snippet.push('…');
    }
    let snippet = snippet.split_whitespace().collect::<Vec<_>>().join(" ");
    Hit {
        tag: rule.tag.clone(),
        rule: term.rule_id(&rule.tag),
        lang: term.lang.clone(),
        field,
        start: s,
        end: e,
        matched: original[s..e].to_string(),
        evidence: snippet,
    }
}
