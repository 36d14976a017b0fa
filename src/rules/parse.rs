//! Rule files: `rules/*.toml`, one tag per file, plus an optional `common.toml` with negation
//! cues and exclusions shared by every rule. Parsing collects every problem with file:line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// Language codes a rule file may use for keywords, patterns and next steps.
pub const LANGUAGES: &[&str] = &[
    "en", "zh", "zh-Hant", "es", "pt", "ru", "fr", "de", "ar", "tr", "ja", "it", "nl", "ko", "vi",
    "th", "id", "pl", "uk", "any",
];

/// A description as written: one text, or one per language.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Described {
    One(String),
    ByLanguage(BTreeMap<String, String>),
}

/// One tag's rule file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    tag: Spanned<String>,
    /// What the tag means: one text, or one per language (`description.en`, `description.zh`;
    /// `en` required), shown to reps and managers on the board in their language.
    description: Spanned<Described>,
    /// How long the tag stays on a customer without fresh evidence, e.g. "90d".
    #[serde(default = "default_ttl")]
    ttl: Spanned<String>,
    /// Where to look: "subject", "body" (default: body only).
    #[serde(default = "default_scope")]
    scope: Vec<Spanned<String>>,
    /// Which messages: "inbound" (the default) or "any-human" (inbound and outbound).
    #[serde(default = "default_direction")]
    direction: Spanned<String>,
    /// Suggested next step, by language; `en` is required.
    next_step: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    keywords: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default)]
    patterns: BTreeMap<String, Vec<Spanned<String>>>,
    /// Keywords that count only with a cue of a named set nearby: `[requires.request]` holds,
    /// per language, the keywords that need a cue of the set `request` (defined in
    /// `common.toml` `[cues.request]` or in this file's own `[cues.request]`).
    #[serde(default)]
    requires: BTreeMap<String, BTreeMap<String, Vec<Spanned<String>>>>,
    /// This rule's own cue sets, by name and language.
    #[serde(default)]
    cues: BTreeMap<String, BTreeMap<String, Vec<Spanned<String>>>>,
    /// "cancel": a hit in a sentence with a conditional cue ("if", "otherwise", "如果") does not
    /// count; "keep" (the default): conditionals do not matter.
    #[serde(default)]
    conditional: Option<Spanned<String>>,
    /// Tags this one overrides where their hit is the object of its own ("lost-deal" suppresses
    /// "comparing-competitors": in "we went with another supplier" the choice is a lost deal,
    /// not a comparison).
    #[serde(default)]
    suppresses: Vec<Spanned<String>>,
    /// Tags this one overrides anywhere in the sentence of its own hit ("complaint" over
    /// "logistics": "the shipment reached the port, but 3 cartons were crushed").
    #[serde(default)]
    suppresses_in_sentence: Vec<Spanned<String>>,
    #[serde(default)]
    negation: NegationSection,
    #[serde(default)]
    exclude: ExcludeSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NegationSection {
    /// Cues before a hit in the same clause that cancel it ("no", "not", "不", "sin").
    #[serde(default)]
    before: Vec<Spanned<String>>,
    /// Cues after a hit in the same clause that cancel it ("not needed", "不需要").
    #[serde(default)]
    after: Vec<Spanned<String>>,
    /// How many characters before/after the hit a cue may stand (default 24).
    #[serde(default)]
    window: Option<usize>,
    /// Use common.toml's negation cues too (default true). A topic that stays a topic when
    /// negated ("the goods have not shipped yet" is still about shipping) says false.
    #[serde(default)]
    common: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExcludeSection {
    /// Phrases that look like a hit but are not ("for example", "sample size").
    #[serde(default)]
    phrases: Vec<Spanned<String>>,
}

/// `common.toml`: shared negation cues, exclusions, cue sets and conditional cues.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonFile {
    #[serde(default)]
    negation: NegationSection,
    #[serde(default)]
    exclude: ExcludeSection,
    /// Named cue sets (`[cues.request]`, per language) that rules name in `[requires.NAME]`.
    #[serde(default)]
    cues: BTreeMap<String, BTreeMap<String, Vec<Spanned<String>>>>,
    /// Conditional cues per language; an entry starting with `-` is a word ending (Turkish
    /// "-sa", "-se").
    #[serde(default)]
    conditional: BTreeMap<String, Vec<Spanned<String>>>,
}

fn default_ttl() -> Spanned<String> {
    Spanned::new(0..0, "90d".to_string())
}

/// By default only the body: subjects are mostly topic lines and order references ("PO 4471",
/// "合同号 HL-031", "Samples - feedback") that do not say what the customer wants now.
fn default_scope() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "body".to_string())]
}

fn default_direction() -> Spanned<String> {
    Spanned::new(0..0, "inbound".to_string())
}

/// A literal or pattern of a rule, with where it was written.
#[derive(Debug, Clone)]
pub struct Term {
    pub lang: String,
    pub text: String,
    /// The cue set (index into the rule's `cue_sets`) that must stand near a hit of this term.
    pub requires: Option<usize>,
    pub file: PathBuf,
    pub line: usize,
}

impl Term {
    /// The rule id shown with evidence: `tag/lang/term`.
    pub fn rule_id(&self, tag: &str) -> String {
        format!("{tag}/{}/{}", self.lang, self.text)
    }
}

/// A rule as the engine uses it.
#[derive(Debug, Clone)]
pub struct Rule {
    pub tag: String,
    /// The description in English (or the only one written).
    pub description: String,
    /// The description by language, `en` always among them.
    pub descriptions: BTreeMap<String, String>,
    pub ttl_ms: i64,
    pub subject: bool,
    pub body: bool,
    pub outbound_too: bool,
    pub next_steps: BTreeMap<String, String>,
    pub keywords: Vec<Term>,
    pub patterns: Vec<Term>,
    pub negation_before: Vec<String>,
    pub negation_after: Vec<String>,
    pub window: usize,
    pub exclusions: Vec<String>,
    /// The cue sets this rule's `requires` names: (name, folded cues).
    pub cue_sets: Vec<(String, Vec<String>)>,
    /// Conditional cues that cancel a hit in their sentence (empty unless `conditional =
    /// "cancel"`); folded, a leading `-` marks a word ending.
    pub conditional: Vec<String>,
    /// Tags this one overrides, with the line that names each and whether anywhere in the
    /// sentence (else only where the other hit is the object of its own).
    pub suppresses: Vec<(String, usize, bool)>,
    pub file: PathBuf,
}

impl Rule {
    /// The description in `lang`, else English.
    pub fn description_in(&self, lang: &str) -> &str {
        self.descriptions
            .get(lang)
            .map(String::as_str)
            .unwrap_or(&self.description)
    }

    /// The next step in `lang`, else English.
    pub fn next_step(&self, lang: &str) -> &str {
        self.next_steps
            .get(lang)
            .or_else(|| self.next_steps.get("en"))
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// A problem in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

pub use crate::time::parse_duration_ms;

/// Parse every `*.toml` in `dir`. Returns the rules, or every problem found.
pub fn load_dir(dir: &Path) -> Result<Vec<Rule>, Vec<RuleProblem>> {
    let mut problems = Vec::new();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) => {
            return Err(vec![RuleProblem {
                file: dir.to_path_buf(),
                line: 0,
                message: format!("cannot read the rules directory: {e}"),
            }]);
        }
    };
    files.sort();
    let mut texts = Vec::new();
    for path in files {
        match std::fs::read_to_string(&path) {
            Ok(t) => texts.push((path, t)),
            Err(e) => problems.push(RuleProblem {
                file: path.clone(),
                line: 0,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    if texts.is_empty() && problems.is_empty() {
        problems.push(RuleProblem {
            file: dir.to_path_buf(),
            line: 0,
            message: "no rule files (*.toml) found".into(),
        });
    }
    match load_texts(texts) {
        Ok(rules) if problems.is_empty() => Ok(rules),
        Ok(_) => Err(problems),
        Err(mut more) => {
            problems.append(&mut more);
            Err(problems)
        }
    }
}

/// Parse rule files given as (path, text); `common.toml` holds the shared cues.
pub fn load_texts(
    texts: impl IntoIterator<Item = (PathBuf, String)>,
) -> Result<Vec<Rule>, Vec<RuleProblem>> {
    let mut problems = Vec::new();
    let mut common = CommonFileView::default();
    let mut rule_texts = Vec::new();
    for (path, text) in texts {
        if path.file_name().is_some_and(|n| n == "common.toml") {
            match toml::from_str::<CommonFile>(&text) {
                Ok(c) => {
                    check_terms(
                        &path,
                        &text,
                        &c.negation.before,
                        "negation cue",
                        &mut problems,
                    );
                    check_terms(
                        &path,
                        &text,
                        &c.negation.after,
                        "negation cue",
                        &mut problems,
                    );
                    check_terms(&path, &text, &c.exclude.phrases, "exclusion", &mut problems);
                    for (name, lists) in &c.cues {
                        for list in lists.values() {
                            check_terms(
                                &path,
                                &text,
                                list,
                                &format!("cue of cues.{name}"),
                                &mut problems,
                            );
                        }
                    }
                    for list in c.conditional.values() {
                        check_terms(&path, &text, list, "conditional cue", &mut problems);
                    }
                    let sections = c
                        .cues
                        .iter()
                        .flat_map(|(name, l)| {
                            l.iter()
                                .map(move |(lang, v)| (format!("cues.{name}"), lang, v))
                        })
                        .chain(
                            c.conditional
                                .iter()
                                .map(|(lang, v)| ("conditional".to_string(), lang, v)),
                        );
                    for (key, lang, list) in sections {
                        if !LANGUAGES.contains(&lang.as_str()) {
                            problems.push(RuleProblem {
                                file: path.clone(),
                                line: list
                                    .first()
                                    .map(|t| line_of(&text, t.span().start))
                                    .unwrap_or(0),
                                message: format!(
                                    "{key}: unknown language {lang:?} (known: {})",
                                    LANGUAGES.join(", ")
                                ),
                            });
                        }
                    }
                    common = CommonFileView {
                        negation_before: c.negation.before,
                        negation_after: c.negation.after,
                        exclusions: c.exclude.phrases,
                        window: c.negation.window,
                        cues: c.cues,
                        conditional: c.conditional,
                    };
                }
                Err(e) => problems.push(toml_problem(&path, &text, &e)),
            }
        } else {
            rule_texts.push((path, text));
        }
    }
    let mut rules = Vec::new();
    let mut seen_tags: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (path, text) in &rule_texts {
        match parse_rule(path, text, &common) {
            Ok(rule) => {
                if let Some(other) = seen_tags.insert(rule.tag.clone(), path.clone()) {
                    problems.push(RuleProblem {
                        file: path.clone(),
                        line: 1,
                        message: format!(
                            "tag {:?} is already defined in {}",
                            rule.tag,
                            other.display()
                        ),
                    });
                }
                rules.push(rule);
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    // A suppressed tag must be spelled like a tag and not be the rule's own; a tag the pack
    // does not hold (a team that removed that file) is simply not there to suppress.
    for rule in &rules {
        for (tag, line, _) in &rule.suppresses {
            let spelled = !tag.is_empty()
                && tag
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !spelled || tag == &rule.tag {
                problems.push(RuleProblem {
                    file: rule.file.clone(),
                    line: *line,
                    message: format!(
                        "suppresses {tag:?}: must name another rule's tag (lower-case letters, digits and '-')"
                    ),
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}

fn toml_problem(path: &Path, text: &str, e: &toml::de::Error) -> RuleProblem {
    RuleProblem {
        file: path.to_path_buf(),
        line: e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
        message: e.message().trim().to_string(),
    }
}

fn check_terms(
    path: &Path,
    text: &str,
    terms: &[Spanned<String>],
    what: &str,
    problems: &mut Vec<RuleProblem>,
) {
    for t in terms {
        if t.get_ref().trim().is_empty() {
            problems.push(RuleProblem {
                file: path.to_path_buf(),
                line: line_of(text, t.span().start),
                message: format!("empty {what}"),
            });
        }
    }
}

fn folded_list(terms: &[Spanned<String>]) -> Vec<String> {
    terms
        .iter()
        .map(|t| crate::normalize::text::fold_str(t.get_ref().trim()))
        .filter(|t| !t.is_empty())
        .collect()
}

/// Parse one rule file's text.
pub fn parse_rule(
    path: &Path,
    text: &str,
    common: &CommonFileView,
) -> Result<Rule, Vec<RuleProblem>> {
    let file: RuleFile = toml::from_str(text).map_err(|e| vec![toml_problem(path, text, &e)])?;
    let mut problems = Vec::new();
    let at = |span: std::ops::Range<usize>| line_of(text, span.start);
    let mut bad = |span: std::ops::Range<usize>, message: String| {
        problems.push(RuleProblem {
            file: path.to_path_buf(),
            line: at(span),
            message,
        })
    };
    let tag = file.tag.get_ref().trim().to_string();
    if tag.is_empty()
        || !tag
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        bad(
            file.tag.span(),
            format!("tag {tag:?} must be lower-case letters, digits and '-'"),
        );
    }
    let ttl_ms = match parse_duration_ms(file.ttl.get_ref()) {
        Some(ms) if ms > 0 => ms,
        _ => {
            bad(
                file.ttl.span(),
                format!(
                    "ttl {:?} is not a duration like \"90d\" or \"12h\"",
                    file.ttl.get_ref()
                ),
            );
            0
        }
    };
    let (mut subject, mut body) = (false, false);
    for s in &file.scope {
        match s.get_ref().as_str() {
            "subject" => subject = true,
            "body" => body = true,
            other => bad(
                s.span(),
                format!("scope {other:?} must be \"subject\" or \"body\""),
            ),
        }
    }
    let outbound_too = match file.direction.get_ref().as_str() {
        "inbound" => false,
        "any-human" => true,
        other => {
            bad(
                file.direction.span(),
                format!("direction {other:?} must be \"inbound\" or \"any-human\""),
            );
            false
        }
    };
    let descriptions: BTreeMap<String, String> = match file.description.get_ref() {
        Described::One(text) => [("en".to_string(), text.trim().to_string())].into(),
        Described::ByLanguage(by) => {
            for lang in by.keys().filter(|l| !LANGUAGES.contains(&l.as_str())) {
                bad(
                    file.description.span(),
                    format!(
                        "unknown language {lang:?} in description (known: {})",
                        LANGUAGES.join(", ")
                    ),
                );
            }
            if !by.contains_key("en") {
                bad(
                    file.description.span(),
                    "description.en is required".to_string(),
                );
            }
            by.iter()
                .map(|(l, t)| (l.clone(), t.trim().to_string()))
                .collect()
        }
    };
    let mut next_steps = BTreeMap::new();
    for (lang, step) in &file.next_step {
        if !LANGUAGES.contains(&lang.as_str()) {
            bad(
                step.span(),
                format!(
                    "unknown language {lang:?} in next_step (known: {})",
                    LANGUAGES.join(", ")
                ),
            );
        }
        next_steps.insert(lang.clone(), step.get_ref().trim().to_string());
    }
    if !next_steps.contains_key("en") {
        bad(0..0, "next_step.en is required".to_string());
    }
    // Keywords and patterns: known languages, no empty entries, patterns that compile.
    let mut collect = |lists: &BTreeMap<String, Vec<Spanned<String>>>,
                       what: &str,
                       requires: Option<usize>|
     -> Vec<Term> {
        let mut terms = Vec::new();
        for (lang, list) in lists {
            if !LANGUAGES.contains(&lang.as_str()) {
                if let Some(first) = list.first() {
                    bad(
                        first.span(),
                        format!(
                            "unknown language {lang:?} (known: {})",
                            LANGUAGES.join(", ")
                        ),
                    );
                }
                continue;
            }
            for item in list {
                let t = item.get_ref().trim();
                if t.is_empty() {
                    bad(item.span(), format!("empty {what}"));
                    continue;
                }
                // As written, then as it runs over folded text.
                if what == "pattern"
                    && let Err(e) = regex::Regex::new(t)
                        .and_then(|_| regex::Regex::new(&super::pattern::pattern_source(t)))
                {
                    let reason = e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    bad(item.span(), format!("invalid pattern {t:?}: {reason}"));
                    continue;
                }
                terms.push(Term {
                    lang: lang.clone(),
                    text: t.to_string(),
                    requires,
                    file: path.to_path_buf(),
                    line: at(item.span()),
                });
            }
        }
        terms
    };
    let mut keywords = collect(&file.keywords, "keyword", None);
    let patterns = collect(&file.patterns, "pattern", None);
    // Keywords that need a cue: the set comes from this file's `[cues.NAME]`, else from
    // common.toml's.
    let mut cue_sets: Vec<(String, Vec<String>)> = Vec::new();
    // Problems found while `collect` holds `bad`: reported after.
    let mut later: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for (name, lists) in &file.requires {
        let set = file.cues.get(name).or_else(|| common.cues.get(name));
        let Some(set) = set else {
            let span = lists
                .values()
                .flatten()
                .next()
                .map(|t| t.span())
                .unwrap_or(0..0);
            later.push((
                span,
                format!("requires.{name}: no cue set [cues.{name}] in this file or in common.toml"),
            ));
            continue;
        };
        let index = cue_sets.len();
        let mut cues: Vec<String> = Vec::new();
        for list in set.values() {
            cues.extend(folded_list(list));
        }
        cue_sets.push((name.clone(), cues));
        keywords.extend(collect(lists, "keyword", Some(index)));
    }
    let conditional = match file
        .conditional
        .as_ref()
        .map(|c| (c.span(), c.get_ref().as_str()))
    {
        None | Some((_, "keep")) => Vec::new(),
        Some((_, "cancel")) => common
            .conditional
            .values()
            .flat_map(|l| folded_list(l))
            .collect(),
        Some((span, other)) => {
            later.push((
                span,
                format!("conditional {other:?} must be \"cancel\" or \"keep\""),
            ));
            Vec::new()
        }
    };
    for (span, message) in later {
        bad(span, message);
    }
    for (name, lists) in &file.cues {
        for (lang, list) in lists {
            if !LANGUAGES.contains(&lang.as_str())
                && let Some(first) = list.first()
            {
                bad(
                    first.span(),
                    format!("cues.{name}: unknown language {lang:?}"),
                );
            }
            for t in list {
                if t.get_ref().trim().is_empty() {
                    bad(t.span(), format!("cues.{name}: empty cue"));
                }
            }
        }
    }
    let suppresses: Vec<(String, usize, bool)> = file
        .suppresses
        .iter()
        .map(|t| (t, false))
        .chain(file.suppresses_in_sentence.iter().map(|t| (t, true)))
        .map(|(t, sentence)| (t.get_ref().trim().to_string(), at(t.span()), sentence))
        .collect();
    if keywords.is_empty() && patterns.is_empty() {
        bad(
            file.tag.span(),
            "the rule has no keywords and no patterns".into(),
        );
    }
    for (list, what) in [
        (&file.negation.before, "negation cue"),
        (&file.negation.after, "negation cue"),
        (&file.exclude.phrases, "exclusion"),
    ] {
        for t in list {
            if t.get_ref().trim().is_empty() {
                bad(t.span(), format!("empty {what}"));
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let inherit = file.negation.common.unwrap_or(true);
    let mut negation_before = if inherit {
        folded_list(&common.negation_before)
    } else {
        Vec::new()
    };
    negation_before.extend(folded_list(&file.negation.before));
    let mut negation_after = if inherit {
        folded_list(&common.negation_after)
    } else {
        Vec::new()
    };
    negation_after.extend(folded_list(&file.negation.after));
    let mut exclusions = folded_list(&common.exclusions);
    exclusions.extend(folded_list(&file.exclude.phrases));
    Ok(Rule {
        tag,
        description: descriptions.get("en").cloned().unwrap_or_default(),
        descriptions,
        ttl_ms,
        subject,
        body,
        outbound_too,
        next_steps,
        keywords,
        patterns,
        negation_before,
        negation_after,
        window: file.negation.window.or(common.window).unwrap_or(24),
        exclusions,
        cue_sets,
        conditional,
        suppresses,
        file: path.to_path_buf(),
    })
}

/// The shared parts of `common.toml`, as terms.
#[derive(Debug, Default, Clone)]
pub struct CommonFileView {
    pub negation_before: Vec<Spanned<String>>,
    pub negation_after: Vec<Spanned<String>>,
    pub exclusions: Vec<Spanned<String>>,
    pub window: Option<usize>,
    pub cues: BTreeMap<String, BTreeMap<String, Vec<Spanned<String>>>>,
    pub conditional: BTreeMap<String, Vec<Spanned<String>>>,
}
