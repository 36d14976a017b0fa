//! OAuth2 access tokens for XOAUTH2: obtained from a refresh token at the provider's token
//! endpoint, cached, and refreshed before they expire. Tokens are never logged.
//!
//! Providers that rotate refresh tokens (Microsoft) send a new one with each access token and
//! may revoke the old: the new one is kept in the database, encrypted with a key derived from
//! the configured refresh token (which the database does not hold), so a restart, or another
//! instance taking the mailbox over, goes on with it. When the operator configures a different
//! refresh token, that one wins.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ring::aead;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::imap::AccountError;
use crate::config::{OAuth2Config, Secret, read_secret};
use crate::store::Db;

/// An access token is cached for at most this long, whatever its lifetime says.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Hands out a valid access token for one account.
#[derive(Debug)]
pub struct TokenSource {
    http: reqwest::Client,
    url: String,
    client_id: String,
    client_secret: Option<Secret>,
    scope: Option<String>,
    /// The refresh token as configured: which rotation chain is ours, and the key material.
    configured: Secret,
    /// Where rotated refresh tokens are kept: the database and the key (`oauth2:<account>`).
    store: OnceLock<(Db, String)>,
    state: tokio::sync::Mutex<State>,
}

#[derive(Debug)]
struct State {
    refresh_token: Secret,
    access: Option<(Secret, Instant)>,
    /// The stored rotated token was looked up.
    loaded: bool,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    /// Providers that rotate refresh tokens send a new one.
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// A rotated refresh token as stored: the chain it belongs to (a digest of the configured
/// token), and the token sealed with ChaCha20-Poly1305.
#[derive(serde::Serialize, Deserialize)]
struct Sealed {
    chain: String,
    nonce: String,
    token: String,
}

/// Why no access token could be had (the endpoint's URL shown without secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token endpoint {0}: {1}")]
    Unreachable(String, String),
    #[error("token endpoint {0} refused: {1}")]
    Refused(String, String),
    #[error("token endpoint {0} sent no access token: {1}")]
    NoAccessToken(String, String),
}

impl TokenSource {
    /// From the account's `[imap.oauth2]` (secrets read now).
    pub fn new(cfg: &OAuth2Config, timeout: Duration) -> Result<TokenSource, AccountError> {
        let (url, scope) = cfg.endpoint().ok_or(AccountError::NoTokenEndpoint)?;
        let client_secret = match (&cfg.client_secret_env, &cfg.client_secret_file) {
            (None, None) => None,
            (env, file) => Some(read_secret(env.as_deref(), file.as_deref())?),
        };
        let refresh_token = read_secret(
            cfg.refresh_token_env.as_deref(),
            cfg.refresh_token_file.as_deref(),
        )
        .map_err(AccountError::RefreshToken)?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AccountError::Http(e.to_string()))?;
        Ok(TokenSource {
            http,
            url,
            client_id: cfg.client_id.clone(),
            client_secret,
            scope,
            configured: refresh_token.clone(),
            store: OnceLock::new(),
            state: tokio::sync::Mutex::new(State {
                refresh_token,
                access: None,
                loaded: false,
            }),
        })
    }

    /// Keep rotated refresh tokens of account `account` in `db`.
    pub fn persist_in(&self, db: &Db, account: &str) {
        let _ = self.store.set((db.clone(), format!("oauth2:{account}")));
    }

    /// The digest naming the configured token's chain, and the sealing key.
    fn chain_and_key(&self) -> (String, aead::LessSafeKey) {
        let chain = hex::encode(&Sha256::digest(self.configured.expose().as_bytes())[..16]);
        let mut h = Sha256::new();
        h.update(b"keepwarm oauth2 refresh token\0");
        h.update(self.client_id.as_bytes());
        h.update([0]);
        h.update(self.configured.expose().as_bytes());
        let key =
            aead::UnboundKey::new(&aead::CHACHA20_POLY1305, &h.finalize()).expect("a 32-byte key");
        (chain, aead::LessSafeKey::new(key))
    }

    /// The rotated token kept for this chain, if any (errors are logged: the configured token
    /// is used then).
    async fn load(&self) -> Option<Secret> {
        let (db, key) = self.store.get()?;
        let stored = match crate::store::get_setting(db, key).await {
            Ok(v) => v?,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot read the stored OAuth2 refresh token.");
                return None;
            }
        };
        let sealed: Sealed = serde_json::from_str(&stored).ok()?;
        let (chain, sealing) = self.chain_and_key();
        if sealed.chain != chain {
            return None;
        }
        let nonce =
            aead::Nonce::try_assume_unique_for_key(&hex::decode(&sealed.nonce).ok()?).ok()?;
        let mut data = hex::decode(&sealed.token).ok()?;
        let plain = sealing
            .open_in_place(nonce, aead::Aad::from(key.as_bytes()), &mut data)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok().map(Secret::new)
    }

    /// Keep a rotated token (errors are logged: it stays in memory for this process).
    async fn save(&self, token: &Secret) {
        let Some((db, key)) = self.store.get() else {
            return;
        };
        let (chain, sealing) = self.chain_and_key();
        let mut nonce = [0u8; 12];
        if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce).is_err() {
            tracing::warn!("No randomness for sealing the OAuth2 refresh token: not stored.");
            return;
        }
        let mut data = token.expose().as_bytes().to_vec();
        let sealed = sealing.seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(key.as_bytes()),
            &mut data,
        );
        if sealed.is_err() {
            return;
        }
        let value = serde_json::to_string(&Sealed {
            chain,
            nonce: hex::encode(nonce),
            token: hex::encode(&data),
        })
        .unwrap_or_default();
        if let Err(e) = crate::store::put_setting(db, key, &value).await {
            tracing::warn!(error = %e, "Cannot store the rotated OAuth2 refresh token; it is kept in memory.");
        }
    }

    /// A token good for at least a little while: the cached one, or a fresh one.
    pub async fn token(&self) -> Result<Secret, TokenError> {
        let mut state = self.state.lock().await;
        if !state.loaded {
            state.loaded = true;
            if let Some(rotated) = self.load().await {
                state.refresh_token = rotated;
            }
        }
        if let Some((token, refresh_at)) = &state.access
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let mut form = vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", state.refresh_token.expose().to_string()),
            ("client_id", self.client_id.clone()),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.expose().to_string()));
        }
        if let Some(scope) = &self.scope {
            form.push(("scope", scope.clone()));
        }
        let shown = crate::config::redact_url(&self.url);
        let response = self
            .http
            .post(&self.url)
            .form(&form)
            .send()
            .await
            .map_err(|e| TokenError::Unreachable(shown.clone(), e.without_url().to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| TokenError::Unreachable(shown.clone(), e.without_url().to_string()))?;
        if !status.is_success() {
            let why = serde_json::from_slice::<ErrorResponse>(&body)
                .map(|e| match e.error_description {
                    Some(d) => format!("{}: {d}", e.error),
                    None => e.error,
                })
                .unwrap_or_else(|_| format!("HTTP {status}"));
            return Err(TokenError::Refused(shown, why));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| TokenError::NoAccessToken(shown, e.to_string()))?;
        // Any lifetime a server names, however large, is cut to a day.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600)).min(MAX_LIFETIME);
        // Refresh a minute early (half the lifetime for short-lived tokens).
        let margin = (lifetime / 2).min(Duration::from_secs(60));
        let now = Instant::now();
        let refresh_at = now.checked_add(lifetime - margin).unwrap_or(now);
        let access = Secret::new(parsed.access_token);
        state.access = Some((access.clone(), refresh_at));
        if let Some(rotated) = parsed.refresh_token.filter(|r| !r.is_empty())
            && rotated != state.refresh_token.expose()
        {
            let rotated = Secret::new(rotated);
            self.save(&rotated).await;
            state.refresh_token = rotated;
        }
        tracing::debug!(
            lifetime_secs = lifetime.as_secs(),
            "OAuth2 access token refreshed."
        );
        Ok(access)
    }

    /// Forget the cached token (the server refused it): the next `token()` refreshes.
    pub async fn invalidate(&self) {
        self.state.lock().await.access = None;
    }
}

/// The SASL XOAUTH2 exchange: the initial response, then an empty answer to the server's error
/// challenge (whose JSON is kept for the error message).
pub struct XOAuth2 {
    pub user: String,
    pub token: Secret,
    sent: bool,
    pub error: Option<String>,
}

impl XOAuth2 {
    pub fn new(user: &str, token: Secret) -> XOAuth2 {
        XOAuth2 {
            user: user.to_string(),
            token,
            sent: false,
            error: None,
        }
    }
}

impl async_imap::Authenticator for &mut XOAuth2 {
    type Response = String;

    fn process(&mut self, challenge: &[u8]) -> String {
        if self.sent {
            self.error = Some(String::from_utf8_lossy(challenge).into_owned());
            String::new()
        } else {
            self.sent = true;
            format!(
                "user={}\x01auth=Bearer {}\x01\x01",
                self.user,
                self.token.expose()
            )
        }
    }
}
