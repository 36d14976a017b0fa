//! The matching engine: one aho-corasick automaton for every keyword of every rule and one
//! `RegexSet` for every pattern, run over folded text; hits are checked for word boundaries,
//! negation cues and exclusions, and carry evidence quoted from the original text.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
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
    /// How many hits of this tag this one stands for (`tag_message` keeps the first per tag).
    pub count: usize,
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
    /// One automaton over every keyword, negation cue, exclusion and mask: one overlapping pass
    /// finds them all.
    literals: AhoCorasick,
    /// What each literal of the automaton stands for (one string may serve several rules).
    literal_entries: Vec<Vec<Entry>>,
    keyword_refs: Vec<TermRef>,
    patterns: RegexSet,
    pattern_regexes: Vec<Regex>,
    pattern_refs: Vec<TermRef>,
    cue_info: Vec<CueInfo>,
    /// Per rule: which cue ids are its before-cues, after-cues and exclusions.
    rule_cues: Vec<RuleCues>,
    /// A fingerprint of the rule text, to tell versions apart.
    pub version: String,
}

/// One meaning of a literal in the automaton.
#[derive(Debug, Clone, Copy)]
enum Entry {
    /// Index into `keyword_refs`.
    Keyword(usize),
    /// Index into `cue_info`.
    Cue(usize),
}

/// What one negation cue, exclusion or mask is.
#[derive(Debug, Clone)]
struct CueInfo {
    /// Contains CJK: no word boundaries, and it must stand right next to the hit.
    cjk: bool,
    /// Check word boundaries (spaced scripts).
    bound_start: bool,
    bound_end: bool,
    /// A word that contains a negation character but negates nothing (能不能, 不错).
    mask: bool,
}

#[derive(Debug, Clone, Default)]
struct RuleCues {
    /// Per cue id: `BEFORE | AFTER | EXCLUSION` bits for this rule.
    roles: Vec<u8>,
}

const BEFORE: u8 = 1;
const AFTER: u8 = 2;
const EXCLUSION: u8 = 4;

impl RuleCues {
    fn set(&mut self, id: usize, role: u8) {
        if self.roles.len() <= id {
            self.roles.resize(id + 1, 0);
        }
        self.roles[id] |= role;
    }

    fn has(&self, id: usize, role: u8) -> bool {
        self.roles.get(id).is_some_and(|r| r & role != 0)
    }
}

/// Chinese words that contain 不/没/唔 but negate nothing: questions (能不能, 是不是, 有没有) and
/// set phrases (不少 "quite a few", 不错 "good", 不过 "but").
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

/// A cue found in the text.
#[derive(Debug, Clone, Copy)]
struct CueHit {
    start: usize,
    end: usize,
    id: usize,
}

/// Evidence context on each side of a hit, in characters.
const CONTEXT_CHARS: usize = 40;

impl RuleSet {
    /// Compile parsed rules into one automaton and one regex set.
    pub fn compile(rules: Vec<Rule>) -> Result<RuleSet, Vec<RuleProblem>> {
        let mut keyword_literals: Vec<String> = Vec::new();
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
                keyword_literals.push(folded);
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
                // `\b` is an ASCII word boundary and `\d` an ASCII digit: the Unicode forms keep
                // the regex engines off their fast DFA path.
                pattern_src.push(p.text.replace("\\b", "(?-u:\\b)").replace("\\d", "[0-9]"));
            }
        }
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
        // The cue automaton: every negation cue and exclusion of every rule, and the masks.
        let mut cue_strings: Vec<String> = Vec::new();
        let mut cue_info: Vec<CueInfo> = Vec::new();
        let cue_id =
            |s: &str, mask: bool, strings: &mut Vec<String>, info: &mut Vec<CueInfo>| -> usize {
                if let Some(i) = strings.iter().position(|x| x == s) {
                    if mask {
                        info[i].mask = true;
                    }
                    return i;
                }
                strings.push(s.to_string());
                let first = s.chars().next().unwrap_or(' ');
                let last = s.chars().last().unwrap_or(' ');
                info.push(CueInfo {
                    cjk: s.chars().any(is_cjk),
                    bound_start: is_word_char(first),
                    bound_end: is_word_char(last),
                    mask,
                });
                strings.len() - 1
            };
        for m in NOT_NEGATIONS {
            cue_id(&fold_str(m), true, &mut cue_strings, &mut cue_info);
        }
        let mut rule_cues = Vec::with_capacity(rules.len());
        for rule in &rules {
            let mut rc = RuleCues::default();
            for c in &rule.negation_before {
                rc.set(cue_id(c, false, &mut cue_strings, &mut cue_info), BEFORE);
            }
            for c in &rule.negation_after {
                rc.set(cue_id(c, false, &mut cue_strings, &mut cue_info), AFTER);
            }
            for c in &rule.exclusions {
                rc.set(cue_id(c, false, &mut cue_strings, &mut cue_info), EXCLUSION);
            }
            rule_cues.push(rc);
        }
        // One automaton for keywords and cues alike.
        let mut strings: Vec<String> = Vec::new();
        let mut literal_entries: Vec<Vec<Entry>> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut add =
            |s: &str, e: Entry, strings: &mut Vec<String>, entries: &mut Vec<Vec<Entry>>| {
                let i = *index.entry(s.to_string()).or_insert_with(|| {
                    strings.push(s.to_string());
                    entries.push(Vec::new());
                    strings.len() - 1
                });
                entries[i].push(e);
            };
        for (k, lit) in keyword_literals.iter().enumerate() {
            add(lit, Entry::Keyword(k), &mut strings, &mut literal_entries);
        }
        for (c, lit) in cue_strings.iter().enumerate() {
            add(lit, Entry::Cue(c), &mut strings, &mut literal_entries);
        }
        let literals = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&strings)
            .map_err(|e| {
                vec![RuleProblem {
                    file: "rules".into(),
                    line: 0,
                    message: format!("cannot build the keyword automaton: {e}"),
                }]
            })?;
        use sha2::Digest;
        let version = hex::encode(&fingerprint.finalize()[..6]);
        Ok(RuleSet {
            rules,
            literals,
            literal_entries,
            keyword_refs,
            patterns,
            pattern_regexes,
            pattern_refs,
            cue_info,
            rule_cues,
            version,
        })
    }

    /// Every hit in one field's text (no direction gating).
    pub fn scan(&self, original: &str, field: Field) -> Vec<Hit> {
        self.scan_with(original, field, false)
    }

    /// The hits of one field; with `first_per_tag`, only the first hit of each tag, carrying the
    /// count of all of them (evidence is built only for the hits returned).
    fn scan_with(&self, original: &str, field: Field, first_per_tag: bool) -> Vec<Hit> {
        if original.trim().is_empty() {
            return Vec::new();
        }
        let folded = fold(original);
        let text = folded.text.as_str();
        let mut candidates: Vec<(usize, usize, &TermRef)> = Vec::new();
        let mut cues: Vec<CueHit> = Vec::new();
        let bounded = |start: usize, end: usize, bound_start: bool, bound_end: bool| {
            let glued_before =
                bound_start && text[..start].chars().next_back().is_some_and(is_word_char);
            let glued_after = bound_end && text[end..].chars().next().is_some_and(is_word_char);
            !glued_before && !glued_after
        };
        let mut masks: Vec<(usize, usize)> = Vec::new();
        for m in self.literals.find_overlapping_iter(text) {
            for entry in &self.literal_entries[m.pattern().as_usize()] {
                match *entry {
                    Entry::Keyword(k) => {
                        let r = &self.keyword_refs[k];
                        if !bounded(m.start(), m.end(), r.bound_start, r.bound_end) {
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
                    Entry::Cue(id) => {
                        let info = &self.cue_info[id];
                        if info.mask {
                            masks.push((m.start(), m.end()));
                        } else if bounded(m.start(), m.end(), info.bound_start, info.bound_end) {
                            cues.push(CueHit {
                                start: m.start(),
                                end: m.end(),
                                id,
                            });
                        }
                    }
                }
            }
        }
        cues.sort_by_key(|c| c.start);
        // A negation character inside 能不能 or 不错 negates nothing.
        if !masks.is_empty() {
            cues.retain(|c| {
                !self.cue_info[c.id].cjk || !masks.iter().any(|(s, e)| *s <= c.start && c.end <= *e)
            });
        }
        for idx in self.patterns.matches(text).iter() {
            for m in self.pattern_regexes[idx].find_iter(text) {
                if m.start() < m.end() {
                    candidates.push((m.start(), m.end(), &self.pattern_refs[idx]));
                }
            }
        }
        let mut hits = Vec::new();
        let mut kept: Vec<(usize, usize, &TermRef)> = Vec::new();
        for (start, end, r) in candidates {
            let rule = &self.rules[r.rule];
            if field == Field::Subject && !rule.subject || field == Field::Body && !rule.body {
                continue;
            }
            if self.cancelled(text, &cues, start, end, r.rule) {
                continue;
            }
            kept.push((start, end, r));
        }
        kept.sort_by_key(|(s, e, r)| (*s, std::cmp::Reverse(*e), r.rule));
        kept.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1 && a.2.rule == b.2.rule);
        let mut counts: Vec<(usize, usize)> = Vec::new(); // (rule, count) in order of first hit
        let mut chosen: Vec<(usize, usize, &TermRef)> = Vec::new();
        for k in kept {
            if first_per_tag {
                match counts.iter_mut().find(|(rule, _)| *rule == k.2.rule) {
                    Some((_, n)) => {
                        *n += 1;
                        continue;
                    }
                    None => counts.push((k.2.rule, 1)),
                }
            }
            chosen.push(k);
        }
        for (start, end, r) in chosen {
            let rule = &self.rules[r.rule];
            let term = if r.keyword {
                &rule.keywords[r.term]
            } else {
                &rule.patterns[r.term]
            };
            let mut hit = evidence(original, &folded, start, end, rule, term, field);
            hit.count = counts
                .iter()
                .find(|(rule, _)| *rule == r.rule)
                .map(|(_, n)| *n)
                .unwrap_or(1);
            hits.push(hit);
        }
        hits
    }

    /// Every hit of a message: subject (unless it is a reply or forward of someone else's
    /// subject) and body.
    pub fn scan_message(&self, subject: &str, body: &str) -> Vec<Hit> {
        self.message_hits(subject, body, false)
    }

    /// Tag a message: like `scan_message`, but only the first hit of each tag, with `count` = all
    /// of its hits (evidence is built only for those).
    pub fn tag_message(&self, subject: &str, body: &str) -> Vec<Hit> {
        let mut hits: Vec<Hit> = Vec::new();
        for h in self.message_hits(subject, body, true) {
            match hits.iter_mut().find(|x| x.tag == h.tag) {
                Some(x) => x.count += h.count,
                None => hits.push(h),
            }
        }
        hits
    }

    fn message_hits(&self, subject: &str, body: &str, first_per_tag: bool) -> Vec<Hit> {
        let mut hits = if is_reply_subject(subject) {
            Vec::new()
        } else {
            self.scan_with(subject, Field::Subject, first_per_tag)
        };
        hits.extend(self.scan_with(body, Field::Body, first_per_tag));
        hits
    }

    /// Is the hit inside an exclusion, or negated by a cue in the same clause?
    fn cancelled(
        &self,
        text: &str,
        cues: &[CueHit],
        start: usize,
        end: usize,
        rule: usize,
    ) -> bool {
        let rc = &self.rule_cues[rule];
        let window = self.rules[rule].window;
        // Cues are sorted by start: only those starting within reach of the hit matter (an
        // exclusion may start up to its own length before the hit; 64 bytes covers any).
        let from = cues.partition_point(|c| c.start + 4 * window + 64 < start);
        let near = &cues[from..];
        let near = &near[..near.partition_point(|c| c.start <= end + 4 * window)];
        if near
            .iter()
            .any(|c| rc.has(c.id, EXCLUSION) && c.start <= start && c.end >= end)
        {
            return true;
        }
        // The clause around the hit, and the reach of cues on each side.
        let before_limit = {
            let mut at = start;
            for (n, (i, c)) in text[..start].char_indices().rev().enumerate() {
                if is_clause_break(c) || n >= window {
                    break;
                }
                at = i;
            }
            at
        };
        let after_limit = {
            let mut at = end;
            for (n, (i, c)) in text[end..].char_indices().enumerate() {
                if is_clause_break(c) || n >= window {
                    break;
                }
                at = end + i + c.len_utf8();
            }
            at
        };
        let cjk_before = text[..start]
            .char_indices()
            .rev()
            .take(6)
            .last()
            .map(|(i, _)| i)
            .unwrap_or(start)
            .max(before_limit);
        let cjk_after = end
            + text[end..]
                .chars()
                .take(8)
                .take_while(|c| !is_clause_break(*c))
                .map(char::len_utf8)
                .sum::<usize>();
        near.iter().any(|c| {
            let cjk = self.cue_info[c.id].cjk;
            (rc.has(c.id, BEFORE)
                && c.end <= start
                && c.start >= if cjk { cjk_before } else { before_limit })
                || (rc.has(c.id, AFTER)
                    && c.start >= end
                    && c.end <= if cjk { cjk_after } else { after_limit })
        })
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

/// Characters that end a clause: a negation never reaches across them.
fn is_clause_break(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '?' | ';' | '\n' | '。' | '！' | '？' | '；' | ',' | '，' | '、' | ':' | '：'
    )
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
    // About CONTEXT_CHARS characters on each side, white space collapsed, "…" where cut.
    let from = original[..s]
        .char_indices()
        .rev()
        .take(CONTEXT_CHARS)
        .last()
        .map(|(i, _)| i)
        .unwrap_or(s);
    let to = original[e..]
        .char_indices()
        .nth(CONTEXT_CHARS)
        .map(|(i, _)| e + i)
        .unwrap_or(original.len());
    let mut snippet = String::with_capacity(to - from + 8);
    if from > 0 {
        snippet.push('…');
    }
    let mut space = false;
    for c in original[from..to].chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !snippet.is_empty() && !snippet.ends_with('…') {
            snippet.push(' ');
        }
        space = false;
        snippet.push(c);
    }
    if to < original.len() {
        snippet.push('…');
    }
    Hit {
        tag: rule.tag.clone(),
        rule: term.rule_id(&rule.tag),
        lang: term.lang.clone(),
        field,
        start: s,
        end: e,
        matched: original[s..e].to_string(),
        evidence: snippet,
        count: 1,
    }
}
