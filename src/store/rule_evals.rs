//! What `keepwarm rules eval` measured, kept for the board's Rules page: rows only.

use sqlx::Row;

use super::{Context, Db, StoreError};

/// One tag's scores in a recorded evaluation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TagFigures {
    pub tag: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

/// One recorded evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleEval {
    pub at: i64,
    pub pack_version: String,
    pub corpus: String,
    pub messages: i64,
    pub labeled: i64,
    pub micro_f1: f64,
    pub macro_f1: f64,
    pub tags: Vec<TagFigures>,
}

/// Keep an evaluation.
pub async fn record(db: &Db, e: &RuleEval) -> Result<(), StoreError> {
    let tags = serde_json::to_string(&e.tags).unwrap_or_else(|_| "[]".into());
    sqlx::query(
        "INSERT INTO rule_eval (at, pack_version, corpus, messages, labeled, micro_f1, macro_f1, tags)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.at)
    .bind(&e.pack_version)
    .bind(&e.corpus)
    .bind(e.messages)
    .bind(e.labeled)
    .bind(e.micro_f1)
    .bind(e.macro_f1)
    .bind(tags)
    .execute(db.pool())
    .await
    .ctx("record a rules evaluation")?;
    Ok(())
}

/// The newest evaluation, if any was recorded.
pub async fn last(db: &Db) -> Result<Option<RuleEval>, StoreError> {
    let row = sqlx::query(
        "SELECT at, pack_version, corpus, messages, labeled, micro_f1, macro_f1, tags
         FROM rule_eval ORDER BY at DESC, id DESC LIMIT 1",
    )
    .fetch_optional(db.pool())
    .await
    .ctx("read the last rules evaluation")?;
    Ok(row.map(|r| RuleEval {
        at: r.get(0),
        pack_version: r.get(1),
        corpus: r.get(2),
        messages: r.get(3),
        labeled: r.get(4),
        micro_f1: r.get(5),
        macro_f1: r.get(6),
        tags: serde_json::from_str(&r.get::<String, _>(7)).unwrap_or_default(),
    }))
}
