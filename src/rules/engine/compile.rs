//! `RuleSet::compile`: parsed rules into the literal indexes, cue sets, gated patterns and
//! precedence the scan runs on.

use super::*;

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
}
