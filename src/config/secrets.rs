//! Secrets and URLs: a secret value that never reaches a log or an error (`Secret`), read from
//! an environment variable or a file (`read_secret`), URLs checked for TLS (`secure_url`) and
//! shown with their secrets hidden (`redact_url`).

use std::fmt;
use std::path::{Path, PathBuf};

/// An `https://` URL, or `http://` to a loopback host: judged on the URL as parsed, so
/// `http://localhost:80@elsewhere/` (user "localhost", host "elsewhere") is not loopback.
pub fn secure_url(url: &str) -> Result<(), UrlError> {
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() => Ok(()),
        Ok(u) if u.scheme() == "http" && u.host_str().is_some_and(is_loopback_host) => Ok(()),
        Ok(_) => Err(UrlError::NotSecure(redact_url(url))),
        Err(e) => Err(UrlError::NotAUrl(redact_url(url), e.to_string())),
    }
}

/// Why a URL was refused (its password, if any, redacted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("{0:?}: https only (http only to a loopback host)")]
    NotSecure(String),
    #[error("{0:?} is not a URL: {1}")]
    NotAUrl(String, String),
}

/// Why a secret could not be read (never its value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    EnvNotSet(String),
    #[error("{} is empty", .0.display())]
    EmptyFile(PathBuf),
    #[error("cannot read {}: {why}", path.display())]
    Unreadable { path: PathBuf, why: String },
    #[error("give either the _env or the _file form, not both")]
    Both,
    #[error("missing")]
    Missing,
}

/// Is `host` this machine (where plain-text IMAP is acceptable)?
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A secret value held in memory (a password, a token, a signing key): its `Debug` shows
/// `***`, it has no `Display`, and it is read only through [`Secret::expose`], so it never
/// lands in a log line or an error by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A secret from an environment variable or a file: the value, or what is wrong. Secrets are
/// never logged.
pub fn read_secret(env: Option<&str>, file: Option<&Path>) -> Result<Secret, SecretError> {
    match (env, file) {
        (Some(var), None) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Secret(v)),
            _ => Err(SecretError::EnvNotSet(var.to_string())),
        },
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => {
                Ok(Secret(v.trim_end_matches(['\r', '\n']).to_string()))
            }
            Ok(_) => Err(SecretError::EmptyFile(path.to_path_buf())),
            Err(e) => Err(SecretError::Unreadable {
                path: path.to_path_buf(),
                why: e.to_string(),
            }),
        },
        (Some(_), Some(_)) => Err(SecretError::Both),
        (None, None) => Err(SecretError::Missing),
    }
}

/// Query keys whose values are shown in logs and errors (connection settings, never secrets).
const VISIBLE_QUERY_KEYS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "application_name",
    "connect_timeout",
    "mode",
    "cache",
    "target_session_attrs",
];

/// A URL (database or webhook) with its secrets hidden before it is shown anywhere: the
/// password of the userinfo, and every query value but a few known harmless ones
/// (`?password=`, `?token=`, `?key=` all become `***`).
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &base[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &base[..s + 3], &creds[..c], &base[at..]),
                None => base.to_string(),
            }
        }
        _ => base.to_string(),
    };
    if let Some(q) = query {
        out.push('?');
        let parts: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if !VISIBLE_QUERY_KEYS.contains(&k.to_ascii_lowercase().as_str()) => {
                    format!("{k}=***")
                }
                Some((k, v)) => format!("{k}={v}"),
                None if kv.is_empty() => String::new(),
                None => "***".into(),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    out
}
