//! The CRM hand-off's sending side: outbox events POSTed, signed, to each `[[crm.webhooks]]`
//! endpoint. The database is the queue: new events fan out to delivery rows, due deliveries are
//! claimed with a lease (one customer's events one at a time, in order), sent concurrently, and
//! each outcome recorded. At least once: a receiver dedupes by `X-Keepwarm-Event-Id`.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tracing::{debug, error, warn};

use crate::config::{Config, WebhookConfig};
use crate::store::outbox::{self, Claimed, Outcome};
use crate::store::{Db, StoreError, now_ms};
use crate::supervise::{Backoff, Stop, stopped, stopping, supervise};

/// `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`: the `X-Keepwarm-Signature` header.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The signature header for every secret in use (one, or two during a rotation: the new one
/// first), comma-separated.
pub fn signatures(secrets: &[Vec<u8>], timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| sign(s, timestamp, body))
        .collect::<Vec<_>>()
        .join(",")
}

/// The retry schedule (ms per step, the last repeating), the expiry, and the grace of
/// "not now" answers, from `[crm]`.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub retry: Vec<i64>,
    pub expire: i64,
    /// 401, 403, 404, 409, 410 and redirects are retried this long after the event was
    /// written, then rejected.
    pub reject_grace: i64,
}

impl Schedule {
    /// What an attempt's result means. Pure.
    ///
    /// 2xx: delivered. 408, 429 and 5xx, timeouts and connection errors: retried after the
    /// next step of the schedule, or after `Retry-After` when that is later; dead when the
    /// next attempt would fall after `queued_at + expire`. 401, 403, 404, 409, 410 and 3xx
    /// (redirects are never followed): retried the same way within `reject_grace`, then
    /// rejected. Any other status: rejected. Every time is computed saturating, so no answer
    /// can overflow it.
    pub fn decide(
        &self,
        status: Option<u16>,
        retry_after_ms: Option<i64>,
        error: String,
        attempts_before: i64,
        queued_at: i64,
        now: i64,
    ) -> Outcome {
        let graced = match status {
            Some(s) if (200..300).contains(&s) => return Outcome::Delivered { status: s },
            Some(s) if (300..400).contains(&s) => true,
            Some(401 | 403 | 404 | 409 | 410) => true,
            Some(s) if s != 408 && s != 429 && !(500..600).contains(&s) => {
                return Outcome::Rejected { status: s, error };
            }
            _ => false,
        };
        let step = usize::try_from(attempts_before)
            .ok()
            .and_then(|i| self.retry.get(i))
            .or(self.retry.last())
            .copied()
            .unwrap_or(crate::time::MINUTE_MS);
        let wait = step.max(retry_after_ms.unwrap_or(0));
        let at = now.saturating_add(wait);
        let limit = queued_at.saturating_add(if graced {
            self.reject_grace.min(self.expire)
        } else {
            self.expire
        });
        // A wait that saturated is past any expiry.
        match (at > limit || at == i64::MAX, graced, status) {
            (true, true, Some(s)) => Outcome::Rejected { status: s, error },
            (true, _, _) => Outcome::Dead { status, error },
            (false, _, _) => Outcome::Retry { status, error, at },
        }
    }
}

/// `Retry-After` in ms: seconds or an HTTP date (never negative, never overflowing).
fn retry_after(headers: &reqwest::header::HeaderMap, now: i64) -> Option<i64> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v)
        .ok()?
        .timestamp_millis();
    Some(at.saturating_sub(now).max(0))
}

/// What a webhook needs besides its config (same index in `Dispatcher::configs`).
struct Hook {
    /// The signing secret, and the previous one during a rotation.
    secrets: Vec<Vec<u8>>,
    client: reqwest::Client,
    /// The URL as logs and errors may show it (secrets hidden).
    shown_url: String,
}

/// The webhooks and their policy.
pub struct Dispatcher {
    hooks: Vec<Hook>,
    configs: Vec<WebhookConfig>,
    schedule: Schedule,
    concurrency: usize,
    lease_ms: i64,
}

/// Deliveries claimed per round, per unit of `concurrency`: a round sends at most this many
/// one after another on each of its `concurrency` lanes, and its lease covers that.
const CLAIM_PER_LANE: usize = 16;

impl Dispatcher {
    /// Read the secrets and build the HTTP clients; `None` when no webhook is configured.
    pub fn new(config: &Config) -> Result<Option<Dispatcher>, String> {
        if config.crm.webhooks.is_empty() {
            return Ok(None);
        }
        let mut hooks = Vec::new();
        let mut longest = Duration::from_secs(1);
        for w in &config.crm.webhooks {
            let secret =
                crate::config::read_secret(w.secret_env.as_deref(), w.secret_file.as_deref())
                    .map_err(|e| format!("crm webhook {}: {e}", w.name))?;
            let mut secrets = vec![secret.expose().as_bytes().to_vec()];
            if w.previous_secret_env.is_some() || w.previous_secret_file.is_some() {
                let previous = crate::config::read_secret(
                    w.previous_secret_env.as_deref(),
                    w.previous_secret_file.as_deref(),
                )
                .map_err(|e| format!("crm webhook {} (previous secret): {e}", w.name))?;
                secrets.push(previous.expose().as_bytes().to_vec());
            }
            // Redirects are never followed: a 307 would re-send the signed event elsewhere, a
            // 301 would turn it into a GET without a body.
            let client = reqwest::Client::builder()
                .timeout(w.timeout())
                .connect_timeout(w.timeout().min(Duration::from_secs(10)))
                .pool_max_idle_per_host(config.crm.concurrency)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("keepwarm/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("crm webhook {}: cannot build an HTTP client: {e}", w.name))?;
            longest = longest.max(w.timeout());
            hooks.push(Hook {
                secrets,
                client,
                shown_url: crate::config::redact_url(&w.url),
            });
        }
        Ok(Some(Dispatcher {
            hooks,
            configs: config.crm.webhooks.clone(),
            schedule: Schedule {
                retry: config.crm.retry_ms(),
                expire: config.crm.expire_ms(),
                reject_grace: config.crm.reject_grace_ms(),
            },
            concurrency: config.crm.concurrency.max(1),
            // Every claimed delivery is sent (or timed out) before the lease ends, so another
            // instance never sends it too; a killed instance's claims come back after it.
            lease_ms: CLAIM_PER_LANE as i64 * longest.as_millis() as i64 + 5_000,
        }))
    }

    /// One round: fan new events out, claim due deliveries, send them, record the outcomes.
    /// Returns the number of attempts made.
    pub async fn round(self: &Arc<Self>, db: &Db) -> Result<usize, StoreError> {
        let now = now_ms();
        outbox::fan_out(db, &self.configs, now, self.schedule.expire).await?;
        let claimed = outbox::claim(
            db,
            now,
            now + self.lease_ms,
            (self.concurrency * CLAIM_PER_LANE) as i64,
        )
        .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let claimed_hooks: Vec<(i64, String)> =
            claimed.iter().map(|c| (c.id, c.webhook.clone())).collect();
        let outcomes: Vec<(i64, Outcome)> = futures::stream::iter(claimed)
            .map(|c| {
                let me = Arc::clone(self);
                async move { (c.id, me.send(&c).await) }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let hooks: std::collections::HashMap<i64, &str> = claimed_hooks
            .iter()
            .map(|(id, h)| (*id, h.as_str()))
            .collect();
        for (id, o) in &outcomes {
            let hook = hooks.get(id).copied().unwrap_or("?");
            crate::metrics::delivery(
                hook,
                match o {
                    Outcome::Delivered { .. } => "delivered",
                    Outcome::Retry { .. } => "retry",
                    Outcome::Rejected { .. } => "rejected",
                    Outcome::Dead { .. } => "dead",
                },
            );
            match o {
                Outcome::Delivered { .. } => {}
                Outcome::Retry { status, error, .. } => {
                    debug!(delivery = id, ?status, %error, "Webhook delivery failed; retrying.")
                }
                Outcome::Rejected { status, error } => {
                    warn!(delivery = id, status, %error, "Webhook refused an event (4xx): not retried.")
                }
                Outcome::Dead { status, error } => {
                    error!(delivery = id, ?status, %error, "Webhook delivery expired: the event is dead (keepwarm outbox replay --dead).")
                }
            }
        }
        outbox::record(db, &outcomes, now_ms()).await?;
        Ok(outcomes.len())
    }

    async fn send(&self, c: &Claimed) -> Outcome {
        let Some((cfg, hook)) = self
            .configs
            .iter()
            .zip(&self.hooks)
            .find(|(cfg, _)| cfg.name == c.webhook)
        else {
            return Outcome::Rejected {
                status: 0,
                error: format!("webhook {:?} is no longer configured", c.webhook),
            };
        };
        let now = now_ms();
        let ts = now / 1000;
        let body = c.payload.as_bytes().to_vec();
        let request = hook
            .client
            .post(&cfg.url)
            .header("content-type", "application/json")
            .header("x-keepwarm-event-id", &c.event_id)
            .header("x-keepwarm-event-type", &c.kind)
            .header("x-keepwarm-timestamp", ts.to_string())
            .header("x-keepwarm-signature", signatures(&hook.secrets, ts, &body))
            .body(body);
        // Errors name the URL with its secrets hidden (reqwest's own text would show the
        // query string).
        let (status, after, error) = match request.send().await {
            Ok(r) if r.status().is_redirection() => {
                let status = r.status().as_u16();
                let to = r
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(crate::config::redact_url)
                    .unwrap_or_else(|| "?".into());
                let error = format!(
                    "HTTP {status}: {} redirects to {to}; redirects are not followed: set the new URL in crm.webhooks",
                    hook.shown_url
                );
                (Some(status), None, error)
            }
            Ok(r) => {
                let status = r.status().as_u16();
                let after = retry_after(r.headers(), now);
                (Some(status), after, format!("HTTP {status}"))
            }
            Err(e) if e.is_timeout() => (None, None, format!("{} timed out", hook.shown_url)),
            Err(e) => (
                None,
                None,
                format!("cannot reach {}: {}", hook.shown_url, e.without_url()),
            ),
        };
        self.schedule
            .decide(status, after, error, c.attempts, c.created_at, now_ms())
    }
}

/// Deliver the outbox until the stop, under the supervisor: a round the database fails is
/// retried after a backoff (a second, doubling up to half a minute), and a panic in a round
/// restarts the loop instead of ending delivery.
pub async fn run(db: Db, dispatcher: Arc<Dispatcher>, stop: Stop) {
    let s = stop.clone();
    supervise(
        "crm delivery",
        DISPATCH_BACKOFF,
        stop,
        move || deliver(db.clone(), Arc::clone(&dispatcher), s.clone()),
        |failure, failures| async move {
            warn!(error = %failure, failures, "Webhook dispatch failed; retrying.");
            None
        },
    )
    .await;
}

const DISPATCH_BACKOFF: Backoff = Backoff {
    first: Duration::from_secs(1),
    cap: Duration::from_secs(30),
    healthy_after: Duration::from_secs(60),
};

/// Rounds of delivery until the stop (a pause when the outbox is empty).
async fn deliver(db: Db, dispatcher: Arc<Dispatcher>, mut stop: Stop) -> Result<(), StoreError> {
    loop {
        if stopping(&stop) {
            return Ok(());
        }
        if dispatcher.round(&db).await? == 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stopped(&mut stop) => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_recipe() {
        // python3: hmac.new(b"secret", b'1780000000.{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            sign(b"secret", 1_780_000_000, br#"{"a":1}"#),
            "v1=beb6c645b997ab516be5a8e5e2215a3394f24755b01119bf1d4cb6f7d7cf71da"
        );
    }

    #[test]
    fn outcomes_follow_the_schedule_and_expire() {
        let s = Schedule {
            retry: vec![60_000, 300_000],
            expire: 3_600_000,
            reject_grace: 600_000,
        };
        let d =
            |status, after, attempts, now| s.decide(status, after, "x".into(), attempts, 0, now);
        assert_eq!(d(Some(204), None, 0, 0), Outcome::Delivered { status: 204 });
        assert!(matches!(
            d(Some(400), None, 0, 0),
            Outcome::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            d(Some(500), None, 0, 0),
            Outcome::Retry { at: 60_000, .. }
        ));
        assert!(matches!(
            d(Some(408), None, 1, 0),
            Outcome::Retry { at: 300_000, .. }
        ));
        // The last step repeats; Retry-After wins when later.
        assert!(matches!(
            d(None, None, 7, 0),
            Outcome::Retry { at: 300_000, .. }
        ));
        assert!(matches!(
            d(Some(429), Some(900_000), 0, 0),
            Outcome::Retry { at: 900_000, .. }
        ));
        // Past the expiry: dead.
        assert!(matches!(
            d(Some(503), None, 3, 3_500_000),
            Outcome::Dead { .. }
        ));
        // A CRM in its own deploy (401/404/409/410) or a redirect: retried within the grace,
        // then rejected.
        for status in [401, 403, 404, 409, 410, 301, 307] {
            assert!(
                matches!(
                    d(Some(status), None, 0, 0),
                    Outcome::Retry { at: 60_000, .. }
                ),
                "{status}"
            );
            assert!(
                matches!(d(Some(status), None, 1, 400_000), Outcome::Rejected { .. }),
                "{status}"
            );
        }
        assert!(matches!(
            d(Some(422), None, 0, 0),
            Outcome::Rejected { status: 422, .. }
        ));
        // A huge Retry-After neither overflows nor postpones beyond the expiry: dead, not a
        // retry at a wrapped-around time.
        assert!(matches!(
            d(Some(429), Some(i64::MAX), 0, 0),
            Outcome::Dead { .. }
        ));
        assert!(matches!(
            s.decide(
                Some(503),
                Some(i64::MAX),
                "x".into(),
                i64::MAX,
                i64::MAX - 5,
                i64::MAX - 1
            ),
            Outcome::Dead { .. }
        ));
    }

    #[test]
    fn retry_after_is_clamped() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::RETRY_AFTER,
            "99999999999999999999".parse().unwrap(),
        );
        assert_eq!(retry_after(&h, 0), None);
        h.insert(
            reqwest::header::RETRY_AFTER,
            "9223372036854775807".parse().unwrap(),
        );
        assert_eq!(retry_after(&h, 0), Some(i64::MAX));
        h.insert(reqwest::header::RETRY_AFTER, "-5".parse().unwrap());
        assert_eq!(retry_after(&h, 0), None);
    }

    #[test]
    fn two_secrets_during_a_rotation_sign_both() {
        let both = signatures(&[b"new".to_vec(), b"old".to_vec()], 1_780_000_000, b"{}");
        let (a, b) = both.split_once(',').unwrap();
        assert_eq!(a, sign(b"new", 1_780_000_000, b"{}"));
        assert_eq!(b, sign(b"old", 1_780_000_000, b"{}"));
    }
}
