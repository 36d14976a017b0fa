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

/// Walking back from `start` character by character up to a clause break: where `window`
/// characters end, and where six (the reach of Chinese and Japanese cues) end.
fn clause_back(text: &str, start: usize, window: usize) -> (usize, usize) {
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
fn clause_on(text: &str, end: usize, window: usize) -> (usize, usize) {
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

/// The char that ends at byte `i` and where it starts.
fn prev_char(text: &str, i: usize) -> (usize, char) {
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
fn next_char(text: &str, i: usize) -> (usize, char) {
    let b = text.as_bytes()[i];
    if b < 0x80 {
        return (i + 1, b as char);
    }
    let c = text[i..].chars().next().unwrap_or(' ');
    (i + c.len_utf8(), c)
}

/// Does the rule look at this field?
fn in_field(rule: &Rule, field: Field) -> bool {
    match field {
        Field::Subject => rule.subject,
        Field::Body => rule.body,
    }
}

/// A candidate hit: a keyword or pattern match before negation and exclusion checks.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    start: usize,
    end: usize,
    /// Index into `RuleSet::terms`.
    term: usize,
    rule: usize,
    reach: Reach,
    /// The sentence stretch a required cue must stand in, and the one a conditional cue
    /// reaches (empty when the candidate needs neither).
    required: (usize, usize),
    conditional: (usize, usize),
}

impl Candidate {
    fn new(start: usize, end: usize, term: usize, rule: usize) -> Candidate {
        Candidate {
            start,
            end,
            term,
            rule,
            reach: Reach::default(),
            required: (0, 0),
            conditional: (0, 0),
        }
    }
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
        // Cue sets, shared by rules that name the same set with the same cues.
        let mut set_lists: Vec<&Vec<String>> = Vec::new();
        let mut rule_sets: Vec<Vec<usize>> = Vec::with_capacity(rules.len());
        for rule in &rules {
            let ids = rule
                .cue_sets
                .iter()
                .map(
                    |(_, cues)| match set_lists.iter().position(|l| *l == cues) {
                        Some(i) => i,
                        None => {
                            set_lists.push(cues);
                            set_lists.len() - 1
                        }
                    },
                )
                .collect();
            rule_sets.push(ids);
        }
        let mut conditional_cues: Vec<String> = Vec::new();
        for c in rules.iter().flat_map(|r| &r.conditional) {
            if !conditional_cues.contains(c) {
                conditional_cues.push(c.clone());
            }
        }
        for (ri, rule) in rules.iter().enumerate() {
            use sha2::Digest;
            // Everything that changes behaviour or output is part of the version.
            fingerprint.update(
                format!(
                    "{}|{}|{}|{}|{}|{}|{:?}|{:?}|{:?}|{}|{:?}|{:?}|{:?}|{:?}",
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
                    rule.exclusions,
                    rule.cue_sets,
                    rule.conditional,
                    rule.suppresses
                        .iter()
                        .map(|(t, _, sentence)| (t, sentence))
                        .collect::<Vec<_>>()
                )
                .as_bytes(),
            );
            for (ti, kw) in rule.keywords.iter().enumerate() {
                fingerprint.update(kw.lang.as_bytes());
                fingerprint.update(kw.text.as_bytes());
                if let Some(set) = kw.requires {
                    fingerprint.update(format!("|requires:{}", rule.cue_sets[set].0).as_bytes());
                }
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
                    id: kw.rule_id(&rule.tag),
                    prefix: prefix && is_word_char(last),
                    requires: kw.requires.map(|set| rule_sets[ri][set]),
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
                    id: p.rule_id(&rule.tag),
                    prefix: false,
                    requires: None,
                    bound_start: false,
                    bound_end: false,
                });
                pattern_src.push(pattern_source(&p.text));
            }
        }
        let build_err = |e: regex::Error| {
            vec![RuleProblem {
                file: "rules".into(),
                line: 0,
                message: format!("cannot build the pattern set: {e}"),
            }]
        };
        let pattern_regexes = pattern_src
            .iter()
            .map(|p| regex::RegexBuilder::new(p).build())
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
        let build_problem = |what: &str, e: aho_corasick::BuildError| {
            vec![RuleProblem {
                file: "rules".into(),
                line: 0,
                message: format!("cannot build the {what} automaton: {e}"),
            }]
        };
        // The context cues: every cue set's literals, the conditional cues and the Turkish
        // markers.
        let mut context_literals: Vec<String> = Vec::new();
        let mut context_entries: Vec<ContextEntry> = Vec::new();
        let mut conditional_endings = Vec::new();
        let sets = set_lists
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.iter().map(move |c| (c.as_str(), i)))
            .chain(conditional_cues.iter().map(|c| (c.as_str(), CONDITIONAL)));
        let mut context_cue = |text: &str, opens: bool, set: usize| {
            let i = match context_literals.iter().position(|l| l == text) {
                Some(i) => i,
                None => {
                    let first = text.chars().next().unwrap_or(' ');
                    let last = text.chars().last().unwrap_or(' ');
                    context_literals.push(text.to_string());
                    context_entries.push(ContextEntry {
                        bound_start: is_word_char(first),
                        bound_end: is_word_char(last),
                        opens,
                        sets: Vec::new(),
                    });
                    context_literals.len() - 1
                }
            };
            if !context_entries[i].sets.contains(&set) {
                context_entries[i].sets.push(set);
            }
        };
        for (cue, set) in sets {
            if set == CONDITIONAL && cue.len() > 1 && cue.starts_with('-') {
                conditional_endings.push(cue[1..].to_string());
                continue;
            }
            match cue.strip_prefix('^') {
                Some(t) if !t.is_empty() => context_cue(t, true, set),
                _ => context_cue(cue, false, set),
            }
        }
        if !conditional_endings.is_empty() {
            for marker in TURKISH_MARKERS {
                context_cue(marker, false, TURKISH);
            }
        }
        // Everything the first pass looks for.
        let mut all: Vec<(String, Entry)> = keyword_literals
            .iter()
            .enumerate()
            .map(|(k, lit)| (lit.clone(), Entry::Keyword(k)))
            .collect();
        let role = |id: usize, roles: u8| rule_cues.iter().any(|rc| rc.has(id, roles));
        for (id, lit) in cue_strings.iter().enumerate() {
            if cue_info[id].mask || role(id, EXCLUSION) {
                all.push((lit.clone(), Entry::Cue(id)));
            }
        }
        // Gates that need not begin at a word start: searched everywhere.
        let mut anywhere: Vec<(String, Entry)> = Vec::new();
        let mut gate_sets = Vec::with_capacity(pattern_src.len());
        for (i, src) in pattern_src.iter().enumerate() {
            match gate_literals(src) {
                Some(gate) => {
                    gate_sets.push((1u8 << gate.sets.len()) - 1);
                    for (set, lits) in gate.sets.into_iter().enumerate() {
                        for lit in lits {
                            if gate.at_word || !lit.is_ascii() {
                                all.push((lit, Entry::Gate(i, set as u8)));
                            } else {
                                anywhere.push((lit, Entry::Gate(i, set as u8)));
                            }
                        }
                    }
                }
                None => gate_sets.push(0),
            }
        }
        // One string may stand for several entries.
        let group = |strings: &[&(String, Entry)]| {
            let mut out: Vec<(String, Vec<Entry>)> = Vec::new();
            let mut index: std::collections::HashMap<&str, usize> =
                std::collections::HashMap::new();
            for (lit, entry) in strings {
                let i = *index.entry(lit.as_str()).or_insert_with(|| {
                    out.push((lit.clone(), Vec::new()));
                    out.len() - 1
                });
                out[i].1.push(*entry);
            }
            out
        };
        let automaton = |strings: Vec<(String, Vec<Entry>)>, what: &str| {
            let (strings, entries): (Vec<String>, Vec<Vec<Entry>>) = strings.into_iter().unzip();
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::DFA))
                .build(&strings)
                .map(|automaton| Literals { automaton, entries })
                .map_err(|e| build_problem(what, e))
        };
        let ascii = group(&all.iter().filter(|(l, _)| l.is_ascii()).collect::<Vec<_>>());
        // A literal whose first word must end where the text's word ends: every entry wants a
        // word boundary after it.
        let whole = |entries: &[Entry]| {
            entries.iter().all(|e| match *e {
                Entry::Keyword(k) => keyword_refs[k].bound_end,
                Entry::Gate(..) => false,
                Entry::Cue(id) => cue_info[id].bound_end,
            })
        };
        let filed: Vec<(&str, bool)> = ascii
            .iter()
            .map(|(l, entries)| (l.as_str(), whole(entries)))
            .collect();
        let (index, unfiled) = WordIndex::new(&filed);
        let mut rest: Vec<(String, Vec<Entry>)> =
            unfiled.iter().map(|u| ascii[u.0].clone()).collect();
        rest.extend(group(&anywhere.iter().collect::<Vec<_>>()));
        let ascii = Words {
            index,
            rest: if rest.is_empty() {
                None
            } else {
                Some(automaton(rest, "keyword")?)
            },
            entries: ascii.into_iter().map(|(_, e)| e).collect(),
        };
        let other = group(
            &all.iter()
                .filter(|(l, _)| !l.is_ascii())
                .collect::<Vec<_>>(),
        );
        let (index, _) = CharIndex::new(&other.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>());
        let other = Chars {
            index,
            entries: other.into_iter().map(|(_, e)| e).collect(),
        };
        let negation_cues: Vec<(&str, bool, usize)> = (0..cue_strings.len())
            .filter(|id| role(*id, BEFORE | AFTER))
            .map(|id| (cue_strings[id].as_str(), cue_info[id].bound_end, id))
            .collect();
        let negations = Cues::new(&negation_cues).map_err(|e| build_problem("negation", e))?;
        let context_cues: Vec<(&str, bool, usize)> = context_literals
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), context_entries[i].bound_end, i))
            .collect();
        let context = Cues::new(&context_cues).map_err(|e| build_problem("cue", e))?;
        let max_exclusion = (0..cue_strings.len())
            .filter(|id| role(*id, EXCLUSION))
            .map(|id| cue_strings[id].len())
            .max()
            .unwrap_or(0);
        let suppresses = rules
            .iter()
            .map(|r| {
                r.suppresses
                    .iter()
                    .filter_map(|(tag, _, sentence)| {
                        rules
                            .iter()
                            .position(|o| &o.tag == tag)
                            .map(|i| (i, *sentence))
                    })
                    .collect()
            })
            .collect();
        use sha2::Digest;
        let version = hex::encode(&fingerprint.finalize()[..6]);
        Ok(RuleSet {
            rules,
            ascii,
            other,
            pattern_base: keyword_refs.len(),
            terms: keyword_refs.into_iter().chain(pattern_refs).collect(),
            pattern_regexes,
            gate_sets,
            negations,
            cue_info,
            max_exclusion,
            rule_cues,
            context,
            context_entries,
            conditional_endings,
            suppresses,
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
        self.find_context(text, candidates, context_hits, regions);
        candidates.retain(|c| self.context_holds(text, context_hits, c));
        if candidates.is_empty() {
            return Vec::new();
        }
        // Negation cues and exclusions matter only in the clause around a candidate: search for
        // them there (regions merged), not over the whole text.
        regions.clear();
        for c in candidates.iter_mut() {
            c.reach = self.reach(text, c.start, c.end, c.rule);
            regions.push((c.reach.lo, c.reach.hi));
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
        candidates.retain(|c| !self.cancelled(cues, c));
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

    /// How far negation cues of `rule` reach around a hit at `start..end`, and the stretch of
    /// text in which the cues (and exclusions and masks) that can touch it lie.
    fn reach(&self, text: &str, start: usize, end: usize, rule: usize) -> Reach {
        let window = self.rules[rule].window;
        let bytes = text.as_bytes();
        let ascii_break = |b: &u8| b.is_ascii() && is_clause_break(*b as char);
        // The clause around the hit, at most `window` characters each side; Chinese and
        // Japanese cues must stand right next to it (six characters before, eight after).
        // ASCII around the hit: bytes are characters.
        let (before, cjk_before) = if start >= window && bytes[start - window..start].is_ascii() {
            let from = start - window;
            let before = bytes[from..start]
                .iter()
                .rposition(ascii_break)
                .map_or(from, |i| from + i + 1);
            (before, before.max(start.saturating_sub(6)))
        } else {
            clause_back(text, start, window)
        };
        let reach = window.max(8);
        let (after, cjk_after) = if end + reach <= bytes.len() && bytes[end..end + reach].is_ascii()
        {
            let steps = bytes[end..end + reach]
                .iter()
                .position(ascii_break)
                .unwrap_or(reach);
            (end + steps.min(window), end + steps.min(8))
        } else {
            clause_on(text, end, window)
        };
        Reach {
            before,
            after,
            cjk_before,
            cjk_after,
            lo: before,
            hi: after.max(cjk_after),
        }
    }

    /// Is the hit inside an exclusion, or negated by a cue in the same clause?
    fn cancelled(&self, cues: &[CueHit], c: &Candidate) -> bool {
        let (start, end, reach) = (c.start, c.end, &c.reach);
        let rc = &self.rule_cues[c.rule];
        // Cues are sorted by start: only those inside the hit's reach, and exclusions that
        // cover it, matter.
        let lo = reach.lo.min(start.saturating_sub(self.max_exclusion));
        let from = cues.partition_point(|c| c.start < lo);
        let near = &cues[from..];
        let near = &near[..near.partition_point(|c| c.start < reach.hi)];
        near.iter().any(|c| {
            let cjk = self.cue_info[c.id].cjk;
            (rc.has(c.id, EXCLUSION) && c.start <= start && c.end >= end)
                || (rc.has(c.id, BEFORE)
                    && c.end <= start
                    && c.start >= if cjk { reach.cjk_before } else { reach.before })
                || (rc.has(c.id, AFTER)
                    && c.start >= end
                    && c.end <= if cjk { reach.cjk_after } else { reach.after })
        })
    }

    /// Mark the sentence stretches of the candidates that need context (a required cue, a
    /// conditional), merge them, and search for context cues in each merged stretch once.
    /// Linear in the text.
    fn find_context(
        &self,
        text: &str,
        candidates: &mut [Candidate],
        hits: &mut Vec<ContextHit>,
        regions: &mut Vec<(usize, usize)>,
    ) {
        hits.clear();
        regions.clear();
        for c in candidates.iter_mut() {
            let required = self.terms[c.term].requires.is_some();
            let conditional = !self.rules[c.rule].conditional.is_empty();
            if !required && !conditional {
                continue;
            }
            // One search for breaks, as wide as the wider window needs.
            let widest = if conditional {
                CONDITIONAL_WINDOW
            } else {
                CUE_WINDOW
            };
            let breaks = breaks_around(text, c.start, c.end, widest);
            if required {
                c.required = within_window(text, c.start, c.end, breaks, CUE_WINDOW);
                regions.push(c.required);
            }
            if conditional {
                c.conditional = within_window(text, c.start, c.end, breaks, CONDITIONAL_WINDOW);
                regions.push(c.conditional);
            }
        }
        merge(regions);
        for &(lo, hi) in regions.iter() {
            self.context.find(text, lo, hi, |start, end, entry| {
                let e = &self.context_entries[entry];
                if bounded(text, start, end, e.bound_start, e.bound_end)
                    && (!e.opens || opens_clause(text, start))
                {
                    hits.push(ContextHit { start, end, entry });
                }
            });
        }
        hits.sort_unstable_by_key(|h| h.start);
    }

    /// Does the sentence around a hit satisfy its rule: a cue of the set its keyword requires
    /// within `CUE_WINDOW` characters, and no conditional cue when the rule cancels those?
    fn context_holds(&self, text: &str, hits: &[ContextHit], c: &Candidate) -> bool {
        let within = |(lo, hi): (usize, usize), set: usize| {
            let from = hits.partition_point(|h| h.start < lo);
            hits[from..]
                .iter()
                .take_while(|h| h.start < hi)
                .any(|h| h.end <= hi && self.context_entries[h.entry].sets.contains(&set))
        };
        if let Some(set) = self.terms[c.term].requires
            && !within(c.required, set)
        {
            return false;
        }
        if self.rules[c.rule].conditional.is_empty() {
            return true;
        }
        if within(c.conditional, CONDITIONAL) {
            return false;
        }
        // Word endings are Turkish suffixes ("-rsa", "-rse"): counted only in a sentence that
        // reads as Turkish (it holds one of its common short words), so English "course" or
        // "Vietnamese" is no conditional.
        let (lo, hi) = c.conditional;
        !(!self.conditional_endings.is_empty()
            && within(c.conditional, TURKISH)
            && text[lo..hi].split(|c: char| !is_word_char(c)).any(|word| {
                self.conditional_endings
                    .iter()
                    .any(|e| word.len() > e.len() + 2 && word.ends_with(e.as_str()))
            }))
    }

    /// Precedence: drop the hits that a suppressing hit overrides. Only the few suppressing
    /// hits are compared with the others, and each one's sentence is found once.
    fn drop_suppressed(&self, text: &str, candidates: &mut Vec<Candidate>) {
        let mut suppressors: Vec<(Candidate, (usize, usize))> = candidates
            .iter()
            .filter(|c| !self.suppresses[c.rule].is_empty())
            .map(|c| (*c, sentence_of(text, c.start, c.end)))
            .collect();
        if suppressors.is_empty() {
            return;
        }
        // A suppressing hit reaches at most its sentence (400 characters each side, at most
        // 4 bytes each): only those starting that near a candidate are compared with it, so a
        // text full of hits costs linear time.
        const REACH: usize = 4 * 400 + 512;
        suppressors.sort_unstable_by_key(|(s, _)| s.start);
        candidates.retain(|c| {
            let from = suppressors.partition_point(|(s, _)| s.start + REACH < c.start);
            let near = &suppressors[from..];
            let near = &near[..near.partition_point(|(s, _)| s.start <= c.end + REACH)];
            !near.iter().any(|(s, (lo, hi))| {
                self.suppresses[s.rule].iter().any(|(rule, in_sentence)| {
                    *rule == c.rule
                        && if *in_sentence {
                            *lo <= c.start && c.end <= *hi
                        } else {
                            s.start <= c.start
                                && (c.start < s.end
                                    || (c.start - s.end <= 4 * CUE_WINDOW
                                        && text[s.end..c.start].chars().count() <= CUE_WINDOW
                                        && !text[s.end..c.start].chars().any(is_clause_break)))
                        }
                })
            })
        });
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

/// Common short Turkish words (folded): a stretch holding one reads as Turkish.
const TURKISH_MARKERS: &[&str] = &[
    "ve",
    "bir",
    "icin",
    "cok",
    "ile",
    "bu",
    "daha",
    "ama",
    "gibi",
    "olarak",
    "biz",
    "size",
    "bize",
    "sizin",
    "bizim",
    "mi",
    "mu",
    "de",
    "da",
    "ki",
    "ne",
    "hem",
    "fiyat",
    "siparis",
    "lutfen",
    "tesekkurler",
    "merhaba",
    "hanim",
    "bey",
    "uygun",
    "olursa",
    "eger",
    "yarin",
];

/// How far (in characters, within the sentence) a `requires` cue may stand from its keyword.
const CUE_WINDOW: usize = 60;
/// How far (in characters, within the sentence) a conditional cue reaches.
const CONDITIONAL_WINDOW: usize = 120;
// `find_context` searches breaks once, as wide as the conditional window, for both.
const _: () = assert!(CONDITIONAL_WINDOW >= CUE_WINDOW);

/// The whole sentence around `start..end` (up to 400 characters each side).
/// The evidence around `original[s..e]`: up to `CONTEXT_CHARS` characters on each side, white
/// space runs collapsed to one space, "…" where the text was cut.
fn snippet(original: &str, s: usize, e: usize) -> String {
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

fn sentence_of(text: &str, start: usize, end: usize) -> (usize, usize) {
    sentence(text, start, end, 400)
}

/// The sentence around `start..end`, at most `window` characters each side (byte offsets).
fn sentence(text: &str, start: usize, end: usize, window: usize) -> (usize, usize) {
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
fn breaks_around(text: &str, start: usize, end: usize, window: usize) -> (usize, usize) {
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
fn within_window(
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
    let word = text[..at]
        .rsplit(|c: char| !is_word_char(c))
        .next()
        .unwrap_or("");
    glued || ABBREVIATIONS.contains(&word)
}

/// Abbreviations followed by a '.' inside a sentence (folded).
const ABBREVIATIONS: &[&str] = &[
    "pcs", "pc", "nos", "no", "qty", "approx", "ca", "kg", "ltd", "co", "inc", "mr", "mrs", "ms",
    "dr", "st", "vs", "ref", "art", "nr", "sr", "sra", "шт", "ед", "г", "стр", "tel", "ext",
];

/// Does a clause start at `at` (only white space between it and the text's start or a clause
/// break)?
fn opens_clause(text: &str, at: usize) -> bool {
    text[..at]
        .chars()
        .rev()
        .find(|c| !c.is_whitespace())
        .is_none_or(is_clause_break)
}

/// Characters that end a clause: a negation never reaches across them.
fn is_clause_break(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '?' | ';' | '\n' | '。' | '！' | '？' | '；' | ',' | '，' | '、' | ':' | '：'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reach_of_negation_cues_is_the_same_found_by_bytes() {
        let set = crate::rules::load(None).unwrap();
        let text = "we do not need samples. No, we don't need a discount, thanks; \
                    不需要样品。 the price is too high for us! 价格 ok 太贵 no";
        let window = set.rules[0].window;
        for start in 0..text.len() {
            for end in start..(start + 12).min(text.len()) {
                if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
                    continue;
                }
                // What the byte search finds equals the character walk.
                let got = set.reach(text, start, end, 0);
                let (before, cjk_before) = clause_back(text, start, window);
                let (after, cjk_after) = clause_on(text, end, window);
                assert_eq!(
                    (
                        got.before,
                        got.after,
                        got.cjk_before,
                        got.cjk_after,
                        got.lo,
                        got.hi
                    ),
                    (
                        before,
                        after,
                        cjk_before,
                        cjk_after,
                        before,
                        after.max(cjk_after)
                    ),
                    "{start}..{end}"
                );
            }
        }
    }
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
