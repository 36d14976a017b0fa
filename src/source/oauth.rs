//! OAuth2 access tokens for XOAUTH2: obtained from a refresh token at the provider's token
//! endpoint, cached, and refreshed before they expire. Tokens are never logged.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::config::{OAuth2Config, read_secret};

/// Hands out a valid access token for one account.
#[derive(Debug)]
pub struct TokenSource {
    http: reqwest::Client,
    url: String,
    client_id: String,
    client_secret: Option<String>,
    scope: Option<String>,
    state: tokio::sync::Mutex<State>,
}

#[derive(Debug)]
struct State {
    refresh_token: String,
    access: Option<(String, Instant)>,
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

impl TokenSource {
    /// From the account's `[imap.oauth2]` (secrets read now).
    pub fn new(cfg: &OAuth2Config, timeout: Duration) -> Result<TokenSource, String> {
        let (url, scope) = cfg
            .endpoint()
            .ok_or("no token endpoint: set provider or token_url")?;
        let client_secret = match (&cfg.client_secret_env, &cfg.client_secret_file) {
            (None, None) => None,
            (env, file) => Some(read_secret(env.as_deref(), file.as_deref())?),
        };
        let refresh_token = read_secret(
            cfg.refresh_token_env.as_deref(),
            cfg.refresh_token_file.as_deref(),
        )
        .map_err(|e| format!("refresh token: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(TokenSource {
            http,
            url,
            client_id: cfg.client_id.clone(),
            client_secret,
            scope,
            state: tokio::sync::Mutex::new(State {
                refresh_token,
                access: None,
            }),
        })
    }

    /// A token good for at least a little while: the cached one, or a fresh one.
    pub async fn token(&self) -> Result<String, String> {
        let mut state = self.state.lock().await;
        if let Some((token, refresh_at)) = &state.access
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let mut form = vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", state.refresh_token.clone()),
            ("client_id", self.client_id.clone()),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.clone()));
        }
        if let Some(scope) = &self.scope {
            form.push(("scope", scope.clone()));
        }
        let response = self
            .http
            .post(&self.url)
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("token endpoint {}: {e}", self.url))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("token endpoint {}: {e}", self.url))?;
        if !status.is_success() {
            let why = serde_json::from_slice::<ErrorResponse>(&body)
                .map(|e| match e.error_description {
                    Some(d) => format!("{}: {d}", e.error),
                    None => e.error,
                })
                .unwrap_or_else(|_| format!("HTTP {status}"));
            return Err(format!("token endpoint {} refused: {why}", self.url));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| format!("token endpoint {} sent no access token: {e}", self.url))?;
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        // Refresh a minute early (half the lifetime for short-lived tokens).
        let margin = (lifetime / 2).min(Duration::from_secs(60));
        state.access = Some((
            parsed.access_token.clone(),
            Instant::now() + lifetime - margin,
        ));
        if let Some(rotated) = parsed.refresh_token {
            state.refresh_token = rotated;
        }
        tracing::debug!(
            lifetime_secs = lifetime.as_secs(),
            "OAuth2 access token refreshed."
        );
        Ok(parsed.access_token)
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
    pub token: String,
    sent: bool,
    pub error: Option<String>,
}

impl XOAuth2 {
    pub fn new(user: &str, token: String) -> XOAuth2 {
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
            format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token)
        }
    }
}
