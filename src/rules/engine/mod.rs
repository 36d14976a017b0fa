//! The matching engine. Over folded text, one first pass finds every keyword, exclusion and
//! mask of every rule and the gate literals of the regex patterns: the ASCII literals are
//! filed by their first word and looked up at each word start (`words`), the others filed by
//! their first non-ASCII character and looked up at each such character (`chars`). A pattern runs
//! once each of its gate's literal sets has a hit. Then, only in the sentences around the
//! candidate hits: the context cues (a cue a `requires` keyword needs, a conditional that
//! cancels), then the negation cues of each hit's clause, then precedence between tags. Hits
//! are checked for word boundaries, and carry evidence quoted from the original text.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::Regex;
use serde::Serialize;

use super::chars::CharIndex;
use super::parse::{Rule, RuleProblem};
use super::pattern::{gate_literals, pattern_source};
use super::words::WordIndex;
use crate::normalize::text::{Folded, fold_into, fold_str, is_cjk, is_word_char};
use evidence::snippet;
use sentence::{
    CONDITIONAL_WINDOW, CUE_WINDOW, breaks_around, clause_back, clause_on, is_clause_break,
    next_char, opens_clause, prev_char, sentence_of, within_window,
};

mod compile;
mod context;
mod evidence;
mod sentence;

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
    /// Which kind of clause produced the hit (for `rules eval`'s weight report).
    #[serde(skip)]
    pub via: Via,
}

/// The kind of clause a hit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Via {
    /// A keyword that counts on its own.
    #[default]
    Keyword,
    /// A keyword that needs a cue of a set nearby (`[requires.NAME]`).
    Requires,
    /// A regex pattern.
    Pattern,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Keyword => "keyword",
            Via::Requires => "requires",
            Via::Pattern => "pattern",
        }
    }
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
    /// The cue set that must stand in a hit's sentence (an id in `ContextEntry::sets`).
    requires: Option<usize>,
    /// Check a word boundary before / after the match (spaced scripts only).
    bound_start: bool,
    bound_end: bool,
    /// `tag/lang/keyword-or-pattern`.
    id: String,
}

impl TermRef {
    fn via(&self) -> Via {
        if !self.keyword {
            Via::Pattern
        } else if self.requires.is_some() {
            Via::Requires
        } else {
            Via::Keyword
        }
    }
}

/// Compiled rules, ready to scan.
#[derive(Debug)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Every literal the first pass looks for: keywords, pattern gates, exclusions and masks.
    /// The ASCII ones are filed by their first word and looked up at each word start
    /// (`words`); the few with no word to start from run in a small automaton over the whole
    /// text; the others (CJK, Cyrillic, Arabic...) are filed by their first non-ASCII
    /// character and looked up at each such character of the text.
    ascii: Words,
    other: Chars,
    /// Every keyword, then every pattern.
    terms: Vec<TermRef>,
    /// Where the patterns start in `terms`.
    pattern_base: usize,
    pattern_regexes: Vec<Regex>,
    /// Per pattern, the bits of `Scratch::gated` that open it (0: a pattern without a gate,
    /// which runs over every text).
    gate_sets: Vec<u8>,
    /// Negation cues: frequent short words ("no", "не", "不"), so they are searched only in the
    /// clauses around candidate hits (ids into `cue_info`).
    negations: Cues,
    cue_info: Vec<CueInfo>,
    /// The longest exclusion, in folded bytes.
    max_exclusion: usize,
    /// Per rule: which cue ids are its before-cues, after-cues and exclusions.
    rule_cues: Vec<RuleCues>,
    /// Every cue of every cue set (`requires`), every conditional cue and the Turkish markers,
    /// searched only in the sentences around the candidates that need context (merged, so
    /// the search never reads a byte twice); ids into `context_entries`.
    context: Cues,
    context_entries: Vec<ContextEntry>,
    /// Conditional word endings (Turkish "-rsa", "-rse"), without the '-'.
    conditional_endings: Vec<String>,
    /// Per rule: the rules whose hits it removes, and whether anywhere in its hit's sentence
    /// (else only where theirs is the object of its own hit).
    suppresses: Vec<Vec<(usize, bool)>>,
    /// A fingerprint of the rule text, to tell versions apart.
    pub version: String,
}

/// What one literal of the context automaton is: its word-boundary needs, whether it must
/// open a clause (`^si`), and the cue sets it belongs to (`CONDITIONAL` for a conditional cue).
#[derive(Debug, Clone, Default)]
struct ContextEntry {
    bound_start: bool,
    bound_end: bool,
    opens: bool,
    sets: Vec<usize>,
}

/// The "set" of conditional cues in `ContextEntry::sets`.
const CONDITIONAL: usize = usize::MAX;
/// The "set" of the common Turkish words that tell a stretch is Turkish.
const TURKISH: usize = usize::MAX - 1;

/// A context cue found in the text.
#[derive(Debug, Clone, Copy)]
struct ContextHit {
    start: usize,
    end: usize,
    entry: usize,
}

/// An automaton and what each of its literals stands for (one string may serve several rules).
#[derive(Debug)]
struct Literals {
    automaton: AhoCorasick,
    entries: Vec<Vec<Entry>>,
}

/// The literals with a non-ASCII character, filed by the first one.
#[derive(Debug)]
struct Chars {
    index: CharIndex,
    entries: Vec<Vec<Entry>>,
}

/// The ASCII literals: filed by first word, plus an automaton for those without one.
#[derive(Debug)]
struct Words {
    index: WordIndex,
    entries: Vec<Vec<Entry>>,
    rest: Option<Literals>,
}

/// Cues searched only in stretches of the text: the ASCII ones filed by first word, the others
/// by first non-ASCII character, and in an automaton those with neither (punctuation only).
#[derive(Debug)]
struct Cues {
    index: WordIndex,
    /// The caller's id of each cue in `index`.
    index_ids: Vec<usize>,
    chars: CharIndex,
    chars_ids: Vec<usize>,
    rest: Option<AhoCorasick>,
    rest_ids: Vec<usize>,
}

impl Cues {
    /// `cues`: (folded text, whether a word boundary must follow it, the caller's id).
    fn new(cues: &[(&str, bool, usize)]) -> Result<Cues, aho_corasick::BuildError> {
        let ascii: Vec<&(&str, bool, usize)> = cues.iter().filter(|c| c.0.is_ascii()).collect();
        let filed: Vec<(&str, bool)> = ascii.iter().map(|c| (c.0, c.1)).collect();
        let (index, unfiled) = WordIndex::new(&filed);
        let rest: Vec<(&str, usize)> = unfiled
            .iter()
            .map(|u| (ascii[u.0].0, ascii[u.0].2))
            .collect();
        let other: Vec<&(&str, bool, usize)> = cues.iter().filter(|c| !c.0.is_ascii()).collect();
        let (chars, _) = CharIndex::new(&other.iter().map(|c| c.0).collect::<Vec<_>>());
        let automaton = if rest.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(rest.iter().map(|r| r.0))?,
            )
        };
        Ok(Cues {
            index,
            index_ids: ascii.iter().map(|c| c.2).collect(),
            chars,
            chars_ids: other.iter().map(|c| c.2).collect(),
            rest: automaton,
            rest_ids: rest.iter().map(|r| r.1).collect(),
        })
    }

    /// Every cue (start, end, id) that lies within `text[lo..hi]`.
    fn find(&self, text: &str, lo: usize, hi: usize, mut found: impl FnMut(usize, usize, usize)) {
        let region = &text[lo..hi];
        self.index.find(region.as_bytes(), |s, e, i| {
            found(lo + s, lo + e, self.index_ids[i])
        });
        self.chars.find(region.as_bytes(), |s, e, i| {
            found(lo + s, lo + e, self.chars_ids[i])
        });
        if let Some(rest) = &self.rest {
            for m in rest.find_overlapping_iter(region) {
                found(
                    lo + m.start(),
                    lo + m.end(),
                    self.rest_ids[m.pattern().as_usize()],
                );
            }
        }
    }
}

/// One meaning of a literal in the automaton.
#[derive(Debug, Clone, Copy)]
enum Entry {
    /// Index into `terms`.
    Keyword(usize),
    /// A literal of gate set S of pattern N: run that pattern once each set has a hit.
    Gate(usize, u8),
    /// An exclusion or a mask (index into `cue_info`).
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

/// The reach of negation cues around one hit (byte offsets in the folded text).
#[derive(Debug, Clone, Copy, Default)]
struct Reach {
    before: usize,
    after: usize,
    cjk_before: usize,
    cjk_after: usize,
    /// Where negation cues that can touch the hit lie.
    lo: usize,
    hi: usize,
}

/// Is the text glued to the match on a side that needs a word boundary?
fn bounded(text: &str, start: usize, end: usize, bound_start: bool, bound_end: bool) -> bool {
    let glued_before = bound_start && start > 0 && is_word_char(prev_char(text, start).1);
    let glued_after = bound_end && end < text.len() && is_word_char(next_char(text, end).1);
    !glued_before && !glued_after
}

/// Sort stretches and merge those that overlap or touch.
fn merge(regions: &mut Vec<(usize, usize)>) {
    regions.sort_unstable();
    let mut merged = 0;
    for i in 0..regions.len() {
        let (lo, hi) = regions[i];
        if merged > 0 && lo <= regions[merged - 1].1 {
            regions[merged - 1].1 = regions[merged - 1].1.max(hi);
        } else {
            regions[merged] = (lo, hi);
            merged += 1;
        }
    }
    regions.truncate(merged);
}

/// Does the rule look at this field?
fn in_field(rule: &Rule, field: Field) -> bool {
    match field {
        Field::Subject => rule.subject,
        Field::Body => rule.body,
    }
}

/// A candidate hit: a keyword or pattern match before negation and exclusion checks. Kept
/// small (it is sorted and filtered several times); what later stages work out for it lives
/// beside it (`Windows`, `Reach`).
#[derive(Debug, Clone, Copy)]
struct Candidate {
    start: usize,
    end: usize,
    /// Index into `RuleSet::terms`.
    term: usize,
    rule: usize,
}

impl Candidate {
    fn new(start: usize, end: usize, term: usize, rule: usize) -> Candidate {
        Candidate {
            start,
            end,
            term,
            rule,
        }
    }
}

/// The sentence stretch a candidate's required cue must stand in, and the one a conditional
/// cue reaches (empty when the candidate needs neither).
#[derive(Debug, Clone, Copy, Default)]
struct Windows {
    required: (usize, usize),
    conditional: (usize, usize),
}

/// Buffers reused from one scan to the next on each thread.
#[derive(Default)]
struct Scratch {
    folded: Folded,
    candidates: Vec<Candidate>,
    /// Per pattern, a bit for each of its gate's sets that has a hit.
    gated: Vec<u8>,
    /// Stretches of text to search for cues (merged).
    regions: Vec<(usize, usize)>,
    /// Per candidate (in order), its context windows, then its negation reach.
    windows: Vec<Windows>,
    reaches: Vec<Reach>,
    cues: Vec<CueHit>,
    masks: Vec<(usize, usize)>,
    context_hits: Vec<ContextHit>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// A cue found in the text.
#[derive(Debug, Clone, Copy)]
struct CueHit {
    start: usize,
    end: usize,
    id: usize,
}

impl RuleSet {
    /// Every hit in one field's text (no direction gating).
    pub fn scan(&self, original: &str, field: Field) -> Vec<Hit> {
        self.scan_with(original, field, false)
    }

    /// The hits of one field; with `first_per_tag`, only the first hit of each tag, carrying the
    /// count of all of them (evidence is built only for the hits returned).
    fn scan_with(&self, original: &str, field: Field, first_per_tag: bool) -> Vec<Hit> {
        if original.is_empty() {
            return Vec::new();
        }
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            self.scan_in(&mut scratch, original, field, first_per_tag)
        })
    }

    fn scan_in(
        &self,
        scratch: &mut Scratch,
        original: &str,
        field: Field,
        first_per_tag: bool,
    ) -> Vec<Hit> {
        let Scratch {
            folded,
            candidates,
            gated,
            regions,
            windows,
            reaches,
            cues,
            masks,
            context_hits,
        } = scratch;
        fold_into(original, folded);
        let text = folded.text.as_str();
        candidates.clear();
        cues.clear();
        masks.clear();
        gated.clear();
        gated.resize(self.pattern_regexes.len(), 0);
        let mut found = |start: usize, end: usize, entries: &[Entry]| {
            for entry in entries {
                match *entry {
                    Entry::Keyword(k) => {
                        let r = &self.terms[k];
                        if !in_field(&self.rules[r.rule], field)
                            || !bounded(text, start, end, r.bound_start, r.bound_end)
                        {
                            continue;
                        }
                        let end = if r.prefix {
                            end + text[end..]
                                .chars()
                                .take_while(|c| is_word_char(*c))
                                .map(char::len_utf8)
                                .sum::<usize>()
                        } else {
                            end
                        };
                        candidates.push(Candidate::new(start, end, k, r.rule));
                    }
                    Entry::Gate(p, set) => gated[p] |= 1 << set,
                    Entry::Cue(id) => {
                        let info = &self.cue_info[id];
                        if info.mask {
                            masks.push((start, end));
                        } else if bounded(text, start, end, info.bound_start, info.bound_end) {
                            cues.push(CueHit { start, end, id });
                        }
                    }
                }
            }
        };
        self.ascii.index.find(text.as_bytes(), |start, end, id| {
            found(start, end, &self.ascii.entries[id])
        });
        if let Some(rest) = &self.ascii.rest {
            for m in rest.automaton.find_overlapping_iter(text) {
                found(m.start(), m.end(), &rest.entries[m.pattern().as_usize()]);
            }
        }
        self.other.index.find(text.as_bytes(), |start, end, id| {
            found(start, end, &self.other.entries[id])
        });
        for (p, regex) in self.pattern_regexes.iter().enumerate() {
            let term = self.pattern_base + p;
            let rule = self.terms[term].rule;
            if gated[p] != self.gate_sets[p] || !in_field(&self.rules[rule], field) {
                continue;
            }
            for m in regex.find_iter(text) {
                if m.start() < m.end() {
                    candidates.push(Candidate::new(m.start(), m.end(), term, rule));
                }
            }
        }
        if candidates.is_empty() {
            return Vec::new();
        }
        // Overlapping hits of one rule ("payment term" in "payment terms") are one hit: the
        // longest of those starting first (of equal ones, the first term: the same whichever
        // order the first pass found them in).
        candidates.sort_unstable_by_key(|c| (c.rule, c.start, std::cmp::Reverse(c.end), c.term));
        let mut last: Option<(usize, usize)> = None; // (rule, end)
        candidates.retain(|c| match last {
            Some((rule, end)) if rule == c.rule && c.start < end => false,
            _ => {
                last = Some((c.rule, c.end));
                true
            }
        });
        // Context first (a required cue, a conditional): it drops most candidates of bare
        // nouns ("order", "sample") before the negation search looks at them.
        self.find_context(text, candidates, windows, context_hits, regions);
        let mut at = 0;
        candidates.retain(|c| {
            at += 1;
            self.context_holds(text, context_hits, c, &windows[at - 1])
        });
        if candidates.is_empty() {
            return Vec::new();
        }
        // Negation cues and exclusions matter only in the clause around a candidate: search for
        // them there (regions merged), not over the whole text.
        regions.clear();
        reaches.clear();
        for c in candidates.iter() {
            let reach = self.reach(text, c.start, c.end, c.rule);
            regions.push((reach.lo, reach.hi));
            reaches.push(reach);
        }
        merge(regions);
        for &(lo, hi) in regions.iter() {
            self.negations.find(text, lo, hi, |start, end, id| {
                let info = &self.cue_info[id];
                if bounded(text, start, end, info.bound_start, info.bound_end) {
                    cues.push(CueHit { start, end, id });
                }
            });
        }
        cues.sort_unstable_by_key(|c| c.start);
        // A negation character inside 能不能 or 不错 negates nothing (a cue that is the whole
        // mask, such as an after-cue "不错" of a rule, stays).
        if !masks.is_empty() {
            cues.retain(|c| {
                !self.cue_info[c.id].cjk
                    || !masks
                        .iter()
                        .any(|(s, e)| *s <= c.start && c.end <= *e && e - s > c.end - c.start)
            });
        }
        let mut at = 0;
        candidates.retain(|c| {
            at += 1;
            !self.cancelled(cues, c, &reaches[at - 1])
        });
        self.drop_suppressed(text, candidates);
        candidates.sort_unstable_by_key(|c| (c.start, std::cmp::Reverse(c.end), c.rule));
        // (rule, count) in order of first hit.
        let mut counts: Vec<(usize, usize)> = Vec::new();
        let mut hits = Vec::new();
        for c in candidates.iter() {
            if first_per_tag {
                match counts.iter_mut().find(|(rule, _)| *rule == c.rule) {
                    Some((_, n)) => {
                        *n += 1;
                        continue;
                    }
                    None => counts.push((c.rule, 1)),
                }
            }
            hits.push(self.evidence(original, folded, c, field));
        }
        if first_per_tag {
            // One hit per rule, in the order of `counts`.
            for (hit, (_, n)) in hits.iter_mut().zip(&counts) {
                hit.count = *n;
            }
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

    /// A hit with its evidence: the original text of the match and about `CONTEXT_CHARS`
    /// characters on each side, white space collapsed, "…" where cut.
    fn evidence(&self, original: &str, folded: &Folded, c: &Candidate, field: Field) -> Hit {
        let r = &self.terms[c.term];
        let rule = &self.rules[r.rule];
        let term = if r.keyword {
            &rule.keywords[r.term]
        } else {
            &rule.patterns[r.term]
        };
        let (s, e) = folded.original_range(original, c.start, c.end);
        let snippet = snippet(original, s, e);
        Hit {
            tag: rule.tag.clone(),
            rule: r.id.clone(),
            lang: term.lang.clone(),
            field,
            start: s,
            end: e,
            matched: original[s..e].to_string(),
            evidence: snippet,
            count: 1,
            via: r.via(),
        }
    }

    /// The kind of clause a rule id (`tag/lang/term`, as in a hit) stands for.
    pub fn via_of(&self, rule_id: &str) -> Option<Via> {
        self.terms
            .iter()
            .find(|t| t.id == rule_id)
            .map(TermRef::via)
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

#[cfg(test)]
mod pack_tests {
    /// Every pattern of the default pack is gated by literals its matches end with, so no
    /// pattern runs over every text (an ungated pattern costs a regex pass over each message).
    #[test]
    fn the_default_pack_has_no_ungated_pattern() {
        let set = crate::rules::load(None).expect("the default pack compiles");
        let ungated: Vec<&str> = (0..set.gate_sets.len())
            .filter(|p| set.gate_sets[*p] == 0)
            .map(|p| set.terms[set.pattern_base + p].id.as_str())
            .collect();
        assert!(ungated.is_empty(), "{ungated:?}");
        // A gate of one ASCII byte (a digit, "%") opens nearly every text, and one searched
        // everywhere costs a pass over each text: no such gate in the pack.
        let weak: Vec<String> = set
            .rules
            .iter()
            .flat_map(|r| &r.patterns)
            .filter(|p| {
                crate::rules::pattern::gate_literals(&crate::rules::pattern::pattern_source(
                    &p.text,
                ))
                .is_none_or(|g| !g.at_word || g.sets[0].iter().any(|l| l.len() < 3))
            })
            .map(|p| p.text.clone())
            .collect();
        assert!(weak.is_empty(), "{weak:?}");
    }
}
