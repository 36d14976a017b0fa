//! The team and the policy it sets: `[team]` and its reps, `[followup]` (tier timers, the
//! public pool, the calendar) and `[leads]`.

use serde::Deserialize;

use super::{Config, Span, default_true};

/// `[leads]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadsConfig {
    /// Turn an inquiry from an unknown sender (human mail or chat: not spam, bulk, an
    /// auto-reply or a bounce) into a customer of tier `new`, assigned by weighted round-robin
    /// over the reps (`weight`, `daily_lead_cap`); one that came to a rep's own mailbox or
    /// number goes to that rep.
    #[serde(default)]
    pub enabled: bool,
    /// Only messages this recent become leads (a backfill of old mail does not).
    #[serde(default = "default_recent")]
    pub max_age: Span,
    /// `fixed`: the reps' `weight`s share the leads; `conversion`: each rep's share is one
    /// plus its leads of the last 90 days that reached stage target or signed (reps with
    /// weight 0 still take none).
    #[serde(default)]
    pub weight_from: WeightFrom,
}

/// Where lead routing takes its weights from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightFrom {
    #[default]
    Fixed,
    Conversion,
}

impl Default for LeadsConfig {
    fn default() -> Self {
        LeadsConfig {
            enabled: false,
            max_age: default_recent(),
            weight_from: WeightFrom::Fixed,
        }
    }
}

/// `[pool]`: the public pool's rules and the ownership limits of the team. Every cap and limit
/// is off unless set; a rep's own `max_customers` / `max_protected` beats the team's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Nobody is released by the no-contact rule until the directory has been known this long
    /// (counted from the first customer imported), so that a fresh install, whose mail history
    /// is not in yet, releases nobody; the board shows what would be released and why.
    /// Default: the longest tier interval.
    #[serde(default)]
    pub release_start_after: Option<Span>,
    /// Customers one rep may claim from the pools per day (by command, API or contact).
    #[serde(default)]
    pub claim_daily_limit: Option<u32>,
    /// ... and per calendar month.
    #[serde(default)]
    pub claim_monthly_limit: Option<u32>,
    /// A rep whose customer was released (or taken away) may claim it back only after this.
    #[serde(default)]
    pub reclaim_cooldown: Option<Span>,
    /// Nobody may claim a customer for this long after its release.
    #[serde(default)]
    pub release_embargo: Option<Span>,
    /// A `customer.release_warning` event (and the board's flag) this long before the
    /// no-contact rule releases a customer.
    #[serde(default)]
    pub warn_before_release: Option<Span>,
    /// Customers at stage `signed` are never released by the no-contact rule (default true).
    #[serde(default = "default_true")]
    pub signed_exempt: bool,
    /// Customers one rep may own at most (the team's default).
    #[serde(default)]
    pub max_customers: Option<u32>,
    /// Customers one rep may protect at most (signed ones are protected without limit).
    #[serde(default)]
    pub max_protected: Option<u32>,
    /// Whether signed customers count toward `max_customers` (default true).
    #[serde(default = "default_true")]
    pub cap_counts_signed: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            release_start_after: None,
            claim_daily_limit: None,
            claim_monthly_limit: None,
            reclaim_cooldown: None,
            release_embargo: None,
            warn_before_release: None,
            signed_exempt: true,
            max_customers: None,
            max_protected: None,
            cap_counts_signed: true,
        }
    }
}

impl PoolConfig {
    /// What of the pool's rules changes how the sweep judges a stored customer.
    pub fn fingerprint(&self) -> String {
        format!(
            "{} {:?} {:?}",
            self.signed_exempt,
            self.warn_before_release.as_ref().map(Span::ms),
            self.release_embargo.as_ref().map(Span::ms)
        )
    }
}

/// `[[pools]]`: a pool of released customers, with the filters that send a customer there
/// (all that are set must match) and, through `[[reps]] pools`, its members. A customer
/// released goes to the first pool that matches; one without filters takes the rest. Without
/// any `[[pools]]`, there is one pool, `public`, open to every rep.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolDef {
    pub name: String,
    /// ISO 3166 country codes of the customers it takes.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Tiers it takes.
    #[serde(default)]
    pub tiers: Vec<String>,
    /// Former owners whose customers it takes (a team's pool).
    #[serde(default)]
    pub owners: Vec<String>,
}

impl PoolDef {
    pub fn takes(&self, country: Option<&str>, tier: &str, former_owner: Option<&str>) -> bool {
        let any = |list: &[String], v: Option<&str>| {
            list.is_empty() || v.is_some_and(|v| list.iter().any(|x| x.eq_ignore_ascii_case(v)))
        };
        any(&self.countries, country)
            && any(&self.tiers, Some(tier))
            && any(&self.owners, former_owner)
    }
}

/// The pool of the team that configures none.
pub const DEFAULT_POOL: &str = "public";

/// `[followup]`: the written policy keepwarm enforces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowupConfig {
    /// A new customer gets a first touch within this many days.
    #[serde(default = "default_first_touch")]
    pub first_touch_days: i64,
    /// A customer's message gets an answer within this many hours.
    #[serde(default = "default_reply_within")]
    pub reply_within_hours: i64,
    /// Outreach that got no answer gets a second follow-up within this many days.
    #[serde(default = "default_no_reply")]
    pub no_reply_follow_up_days: i64,
    /// Count only our outbound messages as contact for the tier timer (default: both ways).
    #[serde(default)]
    pub outbound_only: bool,
    /// A due customer is overdue this many days after the due date.
    #[serde(default = "default_overdue_after")]
    pub overdue_after_days: i64,
    /// Per-tier overrides of the built-in policy (`[followup.tiers.vip] interval_days = 21`).
    #[serde(default)]
    pub tiers: std::collections::BTreeMap<String, TierOverride>,
    /// How often `keepwarm run` re-judges the customers whose next deadline has passed.
    #[serde(default = "default_sweep_interval")]
    pub sweep_interval: Span,
    /// A rep's mailbox that failed its last sync, is still backfilling, or has not synced for
    /// this long is unhealthy: the rep's customers are not released to the pool meanwhile
    /// (keepwarm may simply not have seen the mail).
    #[serde(default = "default_stalled_after")]
    pub mailbox_stalled_after: Span,
    /// Contact with one subsidiary keeps its whole corporate group warm (default: each
    /// customer stands alone).
    #[serde(default)]
    pub group_rollup: bool,
    /// Deadlines that fall on a weekend or a holiday of the customer's country move to the next
    /// business day.
    #[serde(default)]
    pub business_days: bool,
    /// The team's offset from UTC, e.g. `"+08:00"`: where a day starts for business days,
    /// holidays and daily caps.
    #[serde(default = "default_utc_offset")]
    pub utc_offset: String,
    /// Holidays per customer country (ISO 3166 code) or `"*"` for all: dates `"2026-12-25"` or
    /// ranges `"2026-10-01..2026-10-07"`.
    #[serde(default)]
    pub holidays: std::collections::BTreeMap<String, Vec<String>>,
    /// Weekend days of a country where they differ from the built-in table (Saturday and
    /// Sunday; Friday and Saturday in SA, KW, QA, BH, OM, EG, JO, IL, ...): `AE = ["sat", "sun"]`.
    #[serde(default)]
    pub weekends: std::collections::BTreeMap<String, Vec<String>>,
    /// A customer in the public pool contacted by a rep becomes that rep's customer.
    #[serde(default = "default_true")]
    pub claim_on_contact: bool,
    /// Kept for configs written before `[pool] claim_daily_limit`, which it stands for when
    /// that is not set.
    #[serde(default)]
    pub claim_daily_limit: Option<u32>,
    /// Only contact this recent claims a pool customer or flags a conflict: older mail is
    /// history being backfilled.
    #[serde(default = "default_recent")]
    pub recent: Span,
}

impl Default for FollowupConfig {
    fn default() -> Self {
        FollowupConfig {
            first_touch_days: default_first_touch(),
            reply_within_hours: default_reply_within(),
            no_reply_follow_up_days: default_no_reply(),
            outbound_only: false,
            overdue_after_days: default_overdue_after(),
            tiers: Default::default(),
            sweep_interval: default_sweep_interval(),
            mailbox_stalled_after: default_stalled_after(),
            group_rollup: false,
            business_days: false,
            utc_offset: default_utc_offset(),
            holidays: Default::default(),
            weekends: Default::default(),
            claim_on_contact: true,
            claim_daily_limit: None,
            recent: default_recent(),
        }
    }
}

fn default_sweep_interval() -> Span {
    "5m".into()
}
fn default_stalled_after() -> Span {
    "6h".into()
}
fn default_utc_offset() -> String {
    "+00:00".into()
}
fn default_recent() -> Span {
    "7d".into()
}

fn default_first_touch() -> i64 {
    3
}
fn default_reply_within() -> i64 {
    24
}
fn default_no_reply() -> i64 {
    7
}
fn default_overdue_after() -> i64 {
    1
}

/// `[followup.tiers.NAME]`: any field left out keeps the built-in value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierOverride {
    /// The tier's contact interval.
    #[serde(default)]
    pub interval_days: Option<i64>,
    /// "Due soon" starts this many days before the due date.
    #[serde(default)]
    pub warn_days: Option<i64>,
    /// Release an overdue customer to the public pool...
    #[serde(default)]
    pub release: Option<bool>,
    /// ... this many days after the due date.
    #[serde(default)]
    pub release_grace_days: Option<i64>,
}

/// A tier's policy, overrides applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierPolicy {
    pub interval_days: i64,
    pub warn_days: i64,
    pub release: bool,
    pub release_grace_days: i64,
}

/// Built-in tiers (every one released to the pool when neglected, as the method says): VIP 30
/// days, repeat 45, one-time 45, high-potential 7,
/// low-potential 90, new 3 (first touch).
pub const TIERS: &[(&str, TierPolicy)] = &[
    (
        "vip",
        TierPolicy {
            interval_days: 30,
            warn_days: 7,
            release: true,
            release_grace_days: 14,
        },
    ),
    (
        "repeat",
        TierPolicy {
            interval_days: 45,
            warn_days: 7,
            release: true,
            release_grace_days: 14,
        },
    ),
    (
        "one-time",
        TierPolicy {
            interval_days: 45,
            warn_days: 7,
            release: true,
            release_grace_days: 7,
        },
    ),
    (
        "high-potential",
        TierPolicy {
            interval_days: 7,
            warn_days: 2,
            release: true,
            release_grace_days: 3,
        },
    ),
    (
        "low-potential",
        TierPolicy {
            interval_days: 90,
            warn_days: 14,
            release: true,
            release_grace_days: 14,
        },
    ),
    (
        "new",
        TierPolicy {
            interval_days: 3,
            warn_days: 1,
            release: true,
            release_grace_days: 7,
        },
    ),
];

impl Config {
    /// How old a message may be and still become a lead.
    pub fn leads_max_age_ms(&self) -> i64 {
        self.leads.max_age.ms()
    }
}

impl Config {
    /// Pool claims per rep and day at most (`[pool]`, else the older `[followup]` key).
    pub fn claim_daily_limit(&self) -> Option<u32> {
        self.pool
            .claim_daily_limit
            .or(self.followup.claim_daily_limit)
    }

    /// The `[[reps]]` entry of `id`.
    pub fn rep(&self, id: &str) -> Option<&RepConfig> {
        self.reps.iter().find(|r| r.id == id)
    }

    /// How many customers `rep` may own (its own cap, else the team's).
    pub fn max_customers(&self, rep: &str) -> Option<u32> {
        self.rep(rep)
            .and_then(|r| r.max_customers)
            .or(self.pool.max_customers)
    }

    /// How many customers `rep` may protect (its own quota, else the team's).
    pub fn max_protected(&self, rep: &str) -> Option<u32> {
        self.rep(rep)
            .and_then(|r| r.max_protected)
            .or(self.pool.max_protected)
    }

    /// The pool a customer released now goes to: the first `[[pools]]` that takes it (one
    /// without filters takes every customer: the config is refused without one), else `public`.
    pub fn pool_for(&self, country: Option<&str>, tier: &str, former_owner: Option<&str>) -> &str {
        self.pools
            .iter()
            .find(|p| p.takes(country, tier, former_owner))
            .map(|p| p.name.as_str())
            .unwrap_or(DEFAULT_POOL)
    }

    /// Whether `rep` sees and claims the customers of `pool`: reps without a `pools` list
    /// belong to every pool (so does anyone when no `[[reps]]` are configured).
    pub fn rep_in_pool(&self, rep: &str, pool: &str) -> bool {
        match self.rep(rep).and_then(|r| r.pools.as_ref()) {
            Some(list) => list.iter().any(|p| p == pool),
            None => true,
        }
    }

    /// The fingerprint of everything that decides how the sweep judges a stored customer.
    pub fn sweep_fingerprint(&self) -> String {
        format!(
            "{} {}",
            self.followup.fingerprint(),
            self.pool.fingerprint()
        )
    }
}

impl Config {
    /// How long the directory must have been known before releases start (ms).
    pub fn release_start_after_ms(&self) -> i64 {
        match &self.pool.release_start_after {
            Some(span) => span.ms(),
            None => self.followup.longest_interval_days() * crate::time::DAY_MS,
        }
    }
}

impl FollowupConfig {
    /// The longest contact interval of any tier (built in or configured), in days.
    pub fn longest_interval_days(&self) -> i64 {
        TIERS
            .iter()
            .map(|(n, _)| *n)
            .chain(self.tiers.keys().map(String::as_str))
            .map(|n| self.tier(n).interval_days)
            .max()
            .unwrap_or(0)
    }

    /// The sweep's interval.
    pub fn sweep_interval_ms(&self) -> i64 {
        self.sweep_interval.ms()
    }

    pub fn stalled_after_ms(&self) -> i64 {
        self.mailbox_stalled_after.ms()
    }

    pub fn recent_ms(&self) -> i64 {
        self.recent.ms()
    }

    /// The working calendar (validated; built-in weekends only if the config is unreadable).
    pub fn calendar(&self) -> crate::time::calendar::Calendar {
        crate::time::calendar::Calendar::new(
            self.business_days,
            &self.utc_offset,
            &self.holidays,
            &self.weekends,
        )
        .unwrap_or_default()
    }

    /// A digest of everything that decides a customer's state: when it changes, every stored
    /// state is judged again.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        let tiers: Vec<_> = TIERS
            .iter()
            .map(|(n, _)| (n.to_string(), self.tier(n)))
            .chain(self.tiers.keys().map(|n| (n.clone(), self.tier(n))))
            .collect();
        h.update(format!(
            "{} {} {} {} {} {:?} {} {} {} {:?} {:?} {}",
            self.first_touch_days,
            self.reply_within_hours,
            self.no_reply_follow_up_days,
            self.outbound_only,
            self.overdue_after_days,
            tiers,
            self.group_rollup,
            self.business_days,
            self.utc_offset,
            self.holidays,
            self.weekends,
            self.stalled_after_ms(),
        ));
        hex::encode(&h.finalize()[..8])
    }

    /// The policy of a tier (an unknown tier is treated as one-time).
    /// Whether `name` is a built-in tier or one defined under `[followup.tiers]`.
    pub fn knows_tier(&self, name: &str) -> bool {
        TIERS.iter().any(|(n, _)| *n == name) || self.tiers.contains_key(name)
    }

    pub fn tier(&self, name: &str) -> TierPolicy {
        let base = TIERS
            .iter()
            .find(|(n, _)| *n == name)
            .or_else(|| TIERS.iter().find(|(n, _)| *n == "one-time"))
            .map(|(_, t)| *t)
            .expect("built-in tiers");
        match self.tiers.get(name) {
            Some(o) => TierPolicy {
                interval_days: o.interval_days.unwrap_or(base.interval_days),
                warn_days: o.warn_days.unwrap_or(base.warn_days),
                release: o.release.unwrap_or(base.release),
                release_grace_days: o.release_grace_days.unwrap_or(base.release_grace_days),
            },
            None => base,
        }
    }
}

/// `[team]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Our own mail domains (subdomains included): mail from them is outbound or internal.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Free-mail domains in addition to the built-in list (gmail.com, qq.com, 163.com, ...).
    /// A free-mail domain never identifies a company.
    #[serde(default)]
    pub freemail_domains: Vec<String>,
    /// In a live mailbox's folders other than Sent, mail "from" a team address counts as ours
    /// (outbound contact, claims, conflicts) only when the receiving server proves it: its
    /// Authentication-Results (DMARC, aligned DKIM or SPF pass for our domain, or an
    /// authenticated submission) or a Received path that never left our servers. Otherwise it
    /// is kept as class `spoof` and moves no timer and no owner. `false` trusts the From header.
    #[serde(default = "default_true")]
    pub verify_senders: bool,
    /// The authserv-ids (the first word of an `Authentication-Results` header: `mx.google.com`,
    /// `mx.your-domain.com`) whose results are trusted. Empty: only the topmost such header,
    /// the one the receiving server adds, counts. Naming your servers here is safer.
    #[serde(default)]
    pub authserv_ids: Vec<String>,
    /// The board's language when neither the user nor the browser says: "en" or "zh".
    #[serde(default)]
    pub language: Option<String>,
}

/// `[[reps]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepConfig {
    /// Stable id used as customer owner (e.g. `zhao.lei`).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Mail addresses of this rep (aliases included).
    #[serde(default)]
    pub emails: Vec<String>,
    /// WhatsApp numbers of this rep, any common format (normalized to E.164).
    #[serde(default)]
    pub whatsapp: Vec<String>,
    /// Share of new leads (3 and 2 and 1: five leads in six to the first two); 0 takes none.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Leads per day at most (none: no cap).
    #[serde(default)]
    pub daily_lead_cap: Option<u32>,
    /// The day the rep joined the company ("YYYY-MM-DD"): a VIP customer's owner must have
    /// been with the company a year. Unknown: no VIP is refused for tenure.
    #[serde(default)]
    pub joined: Option<String>,
    /// Customers this rep may own at most (beats `[pool] max_customers`).
    #[serde(default)]
    pub max_customers: Option<u32>,
    /// Customers this rep may protect at most (beats `[pool] max_protected`).
    #[serde(default)]
    pub max_protected: Option<u32>,
    /// The `[[pools]]` this rep sees and claims from (left out: every pool).
    #[serde(default)]
    pub pools: Option<Vec<String>>,
}

impl RepConfig {
    /// When the rep joined (Unix ms at UTC midnight), if known and well-formed.
    pub fn joined_ms(&self) -> Option<i64> {
        let d = chrono::NaiveDate::parse_from_str(self.joined.as_deref()?, "%Y-%m-%d").ok()?;
        Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
    }
}

impl Default for TeamConfig {
    fn default() -> Self {
        TeamConfig {
            domains: Vec::new(),
            freemail_domains: Vec::new(),
            verify_senders: true,
            authserv_ids: Vec::new(),
            language: None,
        }
    }
}

fn default_weight() -> u32 {
    1
}
