//! Trait rules: rule files (`parse`), the matching engine (`engine`), and the default pack
//! embedded in the binary.

mod chars;
pub mod engine;
pub mod parse;
mod pattern;
mod words;

use std::path::Path;

pub use engine::{Field, Hit, RuleSet};
pub use parse::{Rule, RuleProblem};

/// The default rule pack, embedded so the binary works without a rules directory.
pub const DEFAULT_PACK: &[(&str, &str)] = &[
    ("common.toml", include_str!("../../rules/common.toml")),
    (
        "comparing-competitors.toml",
        include_str!("../../rules/comparing-competitors.toml"),
    ),
    ("complaint.toml", include_str!("../../rules/complaint.toml")),
    ("logistics.toml", include_str!("../../rules/logistics.toml")),
    ("lost-deal.toml", include_str!("../../rules/lost-deal.toml")),
    (
        "payment-terms.toml",
        include_str!("../../rules/payment-terms.toml"),
    ),
    (
        "price-sensitive.toml",
        include_str!("../../rules/price-sensitive.toml"),
    ),
    (
        "purchase-intent.toml",
        include_str!("../../rules/purchase-intent.toml"),
    ),
    (
        "quality-focused.toml",
        include_str!("../../rules/quality-focused.toml"),
    ),
    (
        "sample-request.toml",
        include_str!("../../rules/sample-request.toml"),
    ),
    ("urgent.toml", include_str!("../../rules/urgent.toml")),
];

/// Load and compile the rules of `dir`, or the embedded default pack when `dir` is `None`.
pub fn load(dir: Option<&Path>) -> Result<RuleSet, Vec<RuleProblem>> {
    let rules = match dir {
        Some(d) => parse::load_dir(d)?,
        None => parse::load_texts(
            DEFAULT_PACK
                .iter()
                .map(|(n, t)| (Path::new("rules").join(n), t.to_string())),
        )?,
    };
    RuleSet::compile(rules)
}

/// Every problem of a rule pack; shown as one `file:line: message` a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblems(pub Vec<RuleProblem>);

impl std::fmt::Display for RuleProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the rules have {} problem(s):", self.0.len())?;
        for p in &self.0 {
            write!(f, "\n{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleProblems {}

/// `load`, with every problem in one error.
pub fn load_or_explain(dir: Option<&Path>) -> Result<RuleSet, RuleProblems> {
    load(dir).map_err(RuleProblems)
}
