//! Customers and identities: import (upsert by id), the matching snapshot, listings.

use std::collections::{BTreeSet, HashMap};

use sqlx::Row;

use super::{Context, Db, StoreError, now_ms};
use crate::config::Config;
use crate::directory::freemail::FreeMail;
use crate::directory::identity::{Directory, DomainOwner, normalize_domain, normalize_email};
use crate::directory::import::{CustomerRecord, ParsedCsv, RowIssue};

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub errors: Vec<RowIssue>,
    pub warnings: Vec<RowIssue>,
    pub encoding: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Existing {
    name: String,
    name_key: String,
    group: Option<String>,
    tier: String,
    owner: Option<String>,
    country: Option<String>,
    stage: String,
    identities: BTreeSet<(String, String)>,
}

/// Who changes customers by hand, and why: recorded with every change of owner or tier.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `cli:<os user>`, `api:<token fingerprint>`.
    pub who: String,
    /// `import`, `api-upsert`, `api-import`, ...
    pub via: &'static str,
    pub reason: Option<String>,
}

impl Actor {
    /// The person at the command line (the OS user).
    pub fn cli(via: &'static str, reason: Option<String>) -> Actor {
        let user = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Actor {
            who: format!("cli:{user}"),
            via,
            reason,
        }
    }
}

/// Record a change of `field` by `actor` (inside the change's transaction).
pub(crate) async fn record_change(
    tx: &mut super::Tx,
    customer: &str,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
    actor: &Actor,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO customer_change (customer_id, field, old_value, new_value, actor, via, reason, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(customer)
    .bind(field)
    .bind(old)
    .bind(new)
    .bind(&actor.who)
    .bind(actor.via)
    .bind(&actor.reason)
    .bind(at)
    .execute(&mut **tx)
    .await
    .ctx("record a customer change")?;
    Ok(())
}

/// Apply a parsed CSV: identity conflicts become row errors, near-duplicate names warnings,
/// and everything valid is written in one transaction; every owner or tier it sets or changes
/// is recorded with `actor`.
pub async fn apply_import(
    db: &Db,
    parsed: ParsedCsv,
    actor: &Actor,
) -> Result<ImportSummary, StoreError> {
    let mut summary = ImportSummary {
        errors: parsed.errors,
        warnings: parsed.warnings,
        encoding: parsed.encoding,
        ..Default::default()
    };
    let mut tx = db.begin_write().await?;

    // Current state.
    let mut existing: HashMap<String, Existing> = HashMap::new();
    for row in sqlx::query(
        "SELECT id, name, name_key, group_id, tier, owner, country, stage FROM customer",
    )
    .fetch_all(&mut *tx)
    .await
    .ctx("load customers")?
    {
        existing.insert(
            row.get("id"),
            Existing {
                name: row.get("name"),
                name_key: row.get("name_key"),
                group: row.get("group_id"),
                tier: row.get("tier"),
                owner: row.get("owner"),
                country: row.get("country"),
                stage: row.get("stage"),
                identities: BTreeSet::new(),
            },
        );
    }
    // (kind, value) → (customer, group) for customer-owned identities outside this file.
    let in_file: BTreeSet<String> = parsed.records.iter().map(|r| r.id.clone()).collect();
    let mut claimed: HashMap<(String, String), (String, Option<String>, usize)> = HashMap::new();
    for row in
        sqlx::query("SELECT kind, value, customer_id FROM identity WHERE customer_id IS NOT NULL")
            .fetch_all(&mut *tx)
            .await
            .ctx("load identities")?
    {
        let kind: String = row.get("kind");
        let value: String = row.get("value");
        let customer: String = row.get("customer_id");
        if let Some(e) = existing.get_mut(&customer) {
            e.identities.insert((kind.clone(), value.clone()));
            if !in_file.contains(&customer) {
                let group = e.group.clone();
                claimed.insert((kind, value), (customer, group, 0));
            }
        }
    }

    // Resolve identity ownership in file order. An identity already held by another customer
    // is shared inside a corporate group (domains, phones) or else stays with its first holder.
    let mut accepted: Vec<CustomerRecord> = Vec::new();
    let mut group_owned: HashMap<(String, String), String> = HashMap::new();
    for mut rec in parsed.records {
        let mut dropped: Vec<(&'static str, String)> = Vec::new();
        for (kind, value) in identities_of(&rec) {
            let Some((other, other_group, line)) = claimed.get(&(kind.to_string(), value.clone()))
            else {
                continue;
            };
            if *other == rec.id {
                continue;
            }
            let same_group = rec.group.is_some() && rec.group == *other_group;
            if kind != "email" && same_group {
                let g = rec.group.clone().unwrap_or_default();
                summary.warnings.push(RowIssue {
                    line: rec.line,
                    message: format!(
                        "{kind} {value} is shared inside group {g}: it identifies the group, not one subsidiary"
                    ),
                });
                group_owned.insert((kind.to_string(), value), g);
            } else {
                let where_ = if *line > 0 {
                    format!(" (line {line})")
                } else {
                    String::new()
                };
                summary.warnings.push(RowIssue {
                    line: rec.line,
                    message: format!(
                        "{kind} {value} already belongs to customer {other}{where_}: not used for {}",
                        rec.id
                    ),
                });
                dropped.push((kind, value));
            }
        }
        for (kind, value) in &dropped {
            match *kind {
                "email" => rec.emails.retain(|e| e != value),
                "domain" => rec.domains.retain(|d| d != value),
                _ => rec.phones.retain(|p| p != value),
            }
        }
        for (kind, value) in identities_of(&rec) {
            claimed.entry((kind.to_string(), value)).or_insert((
                rec.id.clone(),
                rec.group.clone(),
                rec.line,
            ));
        }
        accepted.push(rec);
    }

    // Near-duplicate names: warn, never merge.
    let mut by_key: HashMap<String, (String, String, usize)> = HashMap::new();
    let mut groups: HashMap<String, Option<String>> = HashMap::new();
    for (id, e) in &existing {
        groups.insert(id.clone(), e.group.clone());
        if !in_file.contains(id) {
            by_key.insert(e.name_key.clone(), (id.clone(), e.name.clone(), 0));
        }
    }
    for rec in &accepted {
        groups.insert(rec.id.clone(), rec.group.clone());
    }
    for rec in &accepted {
        if rec.name_key.is_empty() {
            continue;
        }
        match by_key.get(&rec.name_key) {
            // Subsidiaries of one group are expected to share a name.
            Some((other, _, _))
                if rec.group.is_some() && groups.get(other).cloned().flatten() == rec.group => {}
            Some((other, other_name, line)) if *other != rec.id => {
                let where_ = if *line > 0 {
                    format!(" on line {line}")
                } else {
                    " already in the directory".to_string()
                };
                summary.warnings.push(RowIssue {
                    line: rec.line,
                    message: format!(
                        "{:?} ({}) looks like {:?} ({}){}: kept as separate customers",
                        rec.name, rec.id, other_name, other, where_
                    ),
                });
            }
            Some(_) => {}
            None => {
                by_key.insert(
                    rec.name_key.clone(),
                    (rec.id.clone(), rec.name.clone(), rec.line),
                );
            }
        }
    }

    // Write.
    let now = now_ms();
    let groups_in_file: BTreeSet<String> =
        accepted.iter().filter_map(|r| r.group.clone()).collect();
    for g in &groups_in_file {
        sqlx::query("DELETE FROM identity WHERE customer_id IS NULL AND group_id = $1")
            .bind(g)
            .execute(&mut *tx)
            .await
            .ctx("clear group domains")?;
    }
    for rec in &accepted {
        let new_ids: BTreeSet<(String, String)> = identities_of(rec)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let before = existing.get(&rec.id);
        match before {
            None => summary.added += 1,
            Some(e) => {
                let same = e.name == rec.name
                    && e.group == rec.group
                    && e.tier == rec.tier
                    && e.owner == rec.owner
                    && e.country == rec.country
                    && rec.stage.as_ref().is_none_or(|s| *s == e.stage)
                    && e.identities == new_ids;
                if same {
                    summary.unchanged += 1;
                    continue;
                }
                summary.updated += 1;
            }
        }
        sqlx::query(
            "INSERT INTO customer (id, name, name_key, group_id, tier, owner, country, created_at,
               updated_at, stage, owned_since)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, COALESCE($9, 'potential'), $10)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key,
               group_id = excluded.group_id, tier = excluded.tier, owner = excluded.owner,
               country = excluded.country, updated_at = excluded.updated_at, check_at = 0,
               stage = CASE WHEN $9 IS NULL THEN customer.stage ELSE excluded.stage END,
               owned_since = CASE WHEN customer.owner IS NOT DISTINCT FROM excluded.owner
                                  THEN customer.owned_since ELSE excluded.owned_since END,
               protected = CASE WHEN customer.owner IS NOT DISTINCT FROM excluded.owner
                                THEN customer.protected ELSE 0 END,
               pool = CASE WHEN excluded.owner IS NULL THEN customer.pool ELSE NULL END,
               conflict_rep = CASE WHEN customer.owner IS NOT DISTINCT FROM excluded.owner
                                   THEN customer.conflict_rep ELSE NULL END,
               conflict_at = CASE WHEN customer.owner IS NOT DISTINCT FROM excluded.owner
                                  THEN customer.conflict_at ELSE NULL END",
        )
        .bind(&rec.id)
        .bind(&rec.name)
        .bind(&rec.name_key)
        .bind(&rec.group)
        .bind(&rec.tier)
        .bind(&rec.owner)
        .bind(&rec.country)
        .bind(now)
        .bind(&rec.stage)
        .bind(rec.owner.as_ref().map(|_| now))
        .execute(&mut *tx)
        .await
        .ctx("upsert a customer")?;
        let (old_owner, old_tier) = match before {
            Some(e) => (e.owner.as_deref(), Some(e.tier.as_str())),
            None => (None, None),
        };
        if before.is_none() || old_owner != rec.owner.as_deref() {
            record_change(
                &mut tx,
                &rec.id,
                "owner",
                old_owner,
                rec.owner.as_deref(),
                actor,
                now,
            )
            .await?;
        }
        if old_tier != Some(rec.tier.as_str()) {
            record_change(
                &mut tx,
                &rec.id,
                "tier",
                old_tier,
                Some(&rec.tier),
                actor,
                now,
            )
            .await?;
        }
        let old_stage = before.map(|e| e.stage.as_str());
        if let Some(stage) = &rec.stage
            && old_stage != Some(stage.as_str())
        {
            let old = old_stage.or(Some("potential"));
            record_change(&mut tx, &rec.id, "stage", old, Some(stage), actor, now).await?;
        }
        // Identities learned from chat (WhatsApp user ids) are not in the CSV: they stay.
        sqlx::query(
            "DELETE FROM identity WHERE customer_id = $1 AND kind IN ('email', 'domain', 'phone')",
        )
        .bind(&rec.id)
        .execute(&mut *tx)
        .await
        .ctx("remove old identities")?;
        for (kind, value) in &new_ids {
            if group_owned.contains_key(&(kind.clone(), value.clone())) {
                continue;
            }
            sqlx::query(
                "INSERT INTO identity (kind, value, customer_id, group_id) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (kind, value) DO UPDATE SET customer_id = excluded.customer_id, group_id = excluded.group_id",
            )
            .bind(kind)
            .bind(value)
            .bind(&rec.id)
            .bind(&rec.group)
            .execute(&mut *tx)
            .await
            .ctx("insert an identity")?;
        }
    }
    for ((kind, value), group) in &group_owned {
        sqlx::query(
            "INSERT INTO identity (kind, value, customer_id, group_id) VALUES ($1, $2, NULL, $3)
             ON CONFLICT (kind, value) DO UPDATE SET customer_id = NULL, group_id = excluded.group_id",
        )
        .bind(kind)
        .bind(value)
        .bind(group)
        .execute(&mut *tx)
        .await
        .ctx("insert a group identity")?;
    }
    tx.commit().await.ctx("commit the import")?;
    summary.errors.sort_by_key(|e| e.line);
    summary.warnings.sort_by_key(|w| w.line);
    Ok(summary)
}

fn identities_of(rec: &CustomerRecord) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    v.extend(rec.emails.iter().map(|e| ("email", e.clone())));
    v.extend(rec.domains.iter().map(|d| ("domain", d.clone())));
    v.extend(rec.phones.iter().map(|p| ("phone", p.clone())));
    v
}

/// Load the matching snapshot: identities, groups, our domains, rep addresses, free-mail list.
pub async fn load_directory(db: &Db, config: &Config) -> Result<Directory, StoreError> {
    let pool = db.pool();
    let mut dir = Directory::default();
    dir.freemail = FreeMail::new(config.team.freemail_domains.iter().cloned());
    dir.team_domains = config
        .team
        .domains
        .iter()
        .filter_map(|d| normalize_domain(d).ok())
        .collect();
    for rep in &config.reps {
        for e in &rep.emails {
            if let Ok(n) = normalize_email(e) {
                dir.rep_emails.insert(n, rep.id.clone());
            }
        }
        for p in &rep.whatsapp {
            if let Ok(n) = crate::address::normalize_phone(p, None) {
                dir.rep_phones.insert(n, rep.id.clone());
            }
        }
    }
    for row in sqlx::query("SELECT kind, value, customer_id, group_id FROM identity")
        .fetch_all(pool)
        .await
        .ctx("load identities")?
    {
        let kind: String = row.get("kind");
        let value: String = row.get("value");
        let customer: Option<String> = row.get("customer_id");
        let group: Option<String> = row.get("group_id");
        match (kind.as_str(), customer, group) {
            ("email", Some(c), _) => {
                dir.emails.insert(value, c);
            }
            ("phone", Some(c), _) => {
                dir.phones.insert(value, c);
            }
            ("domain", Some(c), _) => {
                dir.domains.insert(value, DomainOwner::Customer(c));
            }
            ("domain", None, Some(g)) => {
                dir.domains.insert(value, DomainOwner::Group(g));
            }
            ("phone", None, Some(g)) => {
                dir.group_phones.insert(value, g);
            }
            ("wa_user", Some(c), _) => {
                dir.chat_users.insert(value, c);
            }
            _ => {}
        }
    }
    for row in sqlx::query("SELECT id, group_id FROM customer WHERE group_id IS NOT NULL")
        .fetch_all(pool)
        .await
        .ctx("load groups")?
    {
        dir.groups.insert(row.get("id"), row.get("group_id"));
    }
    dir.build_lookalikes();
    Ok(dir)
}

/// A customer with its contact times, for listings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CustomerRow {
    pub id: String,
    pub name: String,
    pub group: Option<String>,
    pub tier: String,
    pub owner: Option<String>,
    pub country: Option<String>,
    pub last_inbound_at: Option<i64>,
    pub last_outbound_at: Option<i64>,
    pub last_contact_at: Option<i64>,
    /// potential, target, signed, dormant.
    pub stage: String,
    /// Protected by its owner, or signed.
    pub protected: bool,
    /// The pool it sits in, when it has no owner (`None` there: the default pool).
    pub pool: Option<String>,
}

fn customer_row(row: &sqlx::any::AnyRow) -> CustomerRow {
    CustomerRow {
        id: row.get("id"),
        name: row.get("name"),
        group: row.get("group_id"),
        tier: row.get("tier"),
        owner: row.get("owner"),
        country: row.get("country"),
        last_inbound_at: row.get("last_inbound_at"),
        last_outbound_at: row.get("last_outbound_at"),
        last_contact_at: row.get("last_contact_at"),
        stage: row.get("stage"),
        protected: row.get::<i64, _>("protected") != 0 || row.get::<String, _>("stage") == "signed",
        pool: row.get("pool"),
    }
}

const CUSTOMER_COLUMNS: &str = "id, name, group_id, tier, owner, country, last_inbound_at,
    last_outbound_at, last_contact_at, stage, protected, pool";

/// When the directory became known: the time the first customer still in it was added
/// (`None`: no customer yet).
pub async fn directory_since(db: &Db) -> Result<Option<i64>, StoreError> {
    sqlx::query("SELECT MIN(created_at) FROM customer")
        .fetch_one(db.pool())
        .await
        .ctx("read when the directory began")
        .map(|r| r.get::<Option<i64>, _>(0))
}

/// All customers, least recently contacted first (never contacted at the top).
pub async fn list_customers(db: &Db) -> Result<Vec<CustomerRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customer ORDER BY last_contact_at IS NOT NULL, last_contact_at, id"
    )))
    .fetch_all(db.pool())
    .await
    .ctx("list customers")?;
    Ok(rows.iter().map(customer_row).collect())
}

/// The live tags (tag, next step) of every customer at `now`, most recent first: the board's.
pub async fn live_tags(
    db: &Db,
    now: i64,
) -> Result<HashMap<String, Vec<(String, String)>>, StoreError> {
    live_tags_of(db, None, now).await
}

/// `live_tags`, of one owner's customers only when `owner` is given (a rep's board).
pub async fn live_tags_of(
    db: &Db,
    owner: Option<&str>,
    now: i64,
) -> Result<HashMap<String, Vec<(String, String)>>, StoreError> {
    let mut tags: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let sql = if owner.is_some() {
        "SELECT t.customer_id, t.tag, t.next_step FROM customer_tag t
         JOIN customer c ON c.id = t.customer_id
         WHERE c.owner = $2 AND t.expires_at > $1 AND t.state <> 'dismissed'
         ORDER BY t.last_seen DESC"
    } else {
        "SELECT customer_id, tag, next_step FROM customer_tag
         WHERE expires_at > $1 AND state <> 'dismissed' ORDER BY last_seen DESC"
    };
    let mut q = sqlx::query(sql).bind(now);
    if let Some(o) = owner {
        q = q.bind(o);
    }
    for r in q
        .fetch_all(db.pool())
        .await
        .ctx("read tags for the board")?
    {
        tags.entry(r.get(0)).or_default().push((r.get(1), r.get(2)));
    }
    Ok(tags)
}

/// One customer with identities and message counts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CustomerDetail {
    #[serde(flatten)]
    pub customer: CustomerRow,
    pub emails: Vec<String>,
    pub domains: Vec<String>,
    pub phones: Vec<String>,
    pub messages_inbound: i64,
    pub messages_outbound: i64,
    pub messages_not_contact: i64,
    /// Suggested or accepted tags that have not expired, most recent first.
    pub tags: Vec<CustomerTag>,
}

/// A tag on a customer with its latest evidence and the suggested next step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CustomerTag {
    pub tag: String,
    pub state: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub expires_at: i64,
    pub evidence_count: i64,
    pub rule: String,
    pub evidence: String,
    pub message_key: String,
    pub next_step: String,
}

/// A customer's live tags at `now` (expired and dismissed ones are not shown).
pub async fn customer_tags(db: &Db, id: &str, now: i64) -> Result<Vec<CustomerTag>, StoreError> {
    tags_where(db, id, Some(now)).await
}

/// A customer's tags, most recent first; with `live_at`, only unexpired, undismissed ones.
async fn tags_where(
    db: &Db,
    id: &str,
    live_at: Option<i64>,
) -> Result<Vec<CustomerTag>, StoreError> {
    let rows = sqlx::query(
        "SELECT tag, state, first_seen, last_seen, expires_at, evidence_count, last_rule, last_evidence,
                last_message_key, next_step
         FROM customer_tag WHERE customer_id = $1
           AND ($2 IS NULL OR (expires_at > $2 AND state <> 'dismissed'))
         ORDER BY last_seen DESC, tag",
    )
    .bind(id)
    .bind(live_at)
    .fetch_all(db.pool())
    .await
    .ctx("load customer tags")?;
    Ok(rows
        .iter()
        .map(|r| CustomerTag {
            tag: r.get("tag"),
            state: r.get("state"),
            first_seen: r.get("first_seen"),
            last_seen: r.get("last_seen"),
            expires_at: r.get("expires_at"),
            evidence_count: r.get("evidence_count"),
            rule: r.get("last_rule"),
            evidence: r.get("last_evidence"),
            message_key: crate::message::display_key(r.get("last_message_key")).to_string(),
            next_step: r.get("next_step"),
        })
        .collect())
}

pub async fn get_customer(db: &Db, id: &str) -> Result<Option<CustomerDetail>, StoreError> {
    let pool = db.pool();
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customer WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
    .ctx("load a customer")?
    else {
        return Ok(None);
    };
    let customer = customer_row(&row);
    let mut detail = CustomerDetail {
        customer,
        emails: vec![],
        domains: vec![],
        phones: vec![],
        messages_inbound: 0,
        messages_outbound: 0,
        messages_not_contact: 0,
        tags: customer_tags(db, id, super::now_ms()).await?,
    };
    for r in
        sqlx::query("SELECT kind, value FROM identity WHERE customer_id = $1 ORDER BY kind, value")
            .bind(id)
            .fetch_all(pool)
            .await
            .ctx("load identities")?
    {
        let v: String = r.get("value");
        match r.get::<String, _>("kind").as_str() {
            "email" => detail.emails.push(v),
            "domain" => detail.domains.push(v),
            "phone" => detail.phones.push(v),
            _ => {}
        }
    }
    let counts = sqlx::query(
        "SELECT
           COALESCE(SUM(CASE WHEN direction = 'inbound' AND counts_as_contact = 1 THEN 1 ELSE 0 END), 0) AS i,
           COALESCE(SUM(CASE WHEN direction = 'outbound' AND counts_as_contact = 1 THEN 1 ELSE 0 END), 0) AS o,
           COALESCE(SUM(CASE WHEN counts_as_contact = 0 THEN 1 ELSE 0 END), 0) AS n
         FROM message WHERE customer_id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .ctx("count messages")?;
    detail.messages_inbound = counts.get("i");
    detail.messages_outbound = counts.get("o");
    detail.messages_not_contact = counts.get("n");
    Ok(Some(detail))
}

/// A rep's answer to a suggestion: `accepted` or `dismissed`, recorded with the rule and
/// message it judged. `None` when the customer has no such tag.
pub async fn set_tag_state(
    db: &Db,
    customer: &str,
    tag: &str,
    state: &str,
    now: i64,
) -> Result<Option<CustomerTag>, StoreError> {
    let mut tx = db.begin_write().await?;
    let Some(row) = sqlx::query(
        "UPDATE customer_tag SET state = $1, feedback_at = $2, updated_at = $2
         WHERE customer_id = $3 AND tag = $4 RETURNING last_rule, last_message_key",
    )
    .bind(state)
    .bind(now)
    .bind(customer)
    .bind(tag)
    .fetch_optional(&mut *tx)
    .await
    .ctx("set a tag's state")?
    else {
        return Ok(None);
    };
    let rule: String = row.get(0);
    let message: String = row.get(1);
    sqlx::query(
        "INSERT INTO tag_feedback (customer_id, tag, rule, message_key, state, at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(customer)
    .bind(tag)
    .bind(&rule)
    .bind(&message)
    .bind(state)
    .bind(now)
    .execute(&mut *tx)
    .await
    .ctx("record tag feedback")?;
    tx.commit().await.ctx("commit tag feedback")?;
    let tags = all_tags(db, customer).await?;
    Ok(tags.into_iter().find(|t| t.tag == tag))
}

/// Every tag of a customer, whatever its state or age.
pub async fn all_tags(db: &Db, id: &str) -> Result<Vec<CustomerTag>, StoreError> {
    tags_where(db, id, None).await
}

/// Per rule: how many suggestions reps accepted and dismissed (the latest answer per customer
/// and tag counts).
pub async fn feedback_by_rule(db: &Db) -> Result<Vec<(String, i64, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT rule,
                SUM(CASE WHEN state = 'accepted' THEN 1 ELSE 0 END),
                SUM(CASE WHEN state = 'dismissed' THEN 1 ELSE 0 END)
         FROM tag_feedback f
         WHERE id = (SELECT MAX(id) FROM tag_feedback g WHERE g.customer_id = f.customer_id AND g.tag = f.tag)
         GROUP BY rule ORDER BY rule",
    )
    .fetch_all(db.pool())
    .await
    .ctx("summarize tag feedback")?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// The customers that hold a tag (in any state).
pub async fn tagged_customers(db: &Db) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar::<_, String>("SELECT DISTINCT customer_id FROM customer_tag")
        .fetch_all(db.pool())
        .await
        .ctx("list tagged customers")
}

/// Customers whose name, address, domain or phone contains `q` (case-insensitive), up to
/// `limit`, by name.
pub async fn search(
    db: &Db,
    q: &str,
    limit: i64,
) -> Result<Vec<(String, String, Option<String>, Option<String>, String)>, StoreError> {
    let like = format!(
        "%{}%",
        q.to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows = sqlx::query(
        "SELECT c.id, c.name, c.owner, c.pool, c.tier FROM customer c
         WHERE LOWER(c.name) LIKE $1 ESCAPE '\\' OR LOWER(c.id) LIKE $1 ESCAPE '\\'
            OR c.id IN (SELECT customer_id FROM identity WHERE value LIKE $1 ESCAPE '\\')
         ORDER BY c.name LIMIT $2",
    )
    .bind(like)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .ctx("search customers")?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect())
}
