//! Who is asking: users with a role (rep, manager, admin), their passwords (argon2id) and API
//! tokens (`kw_<id>_<secret>`, only the secret's SHA-256 kept), and the scope a request runs
//! with. A rep sees its own customers and those in the pools it belongs to, and changes only
//! its own; a manager sees and changes everything; an admin also manages users, tokens and
//! mailboxes. Tokens from the config (`[api] tokens_env`/`tokens_file`) are admin tokens.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand_core::{OsRng, RngCore};
use sha2::Digest;

use crate::config::Config;
use crate::time::HOUR_MS;

/// A board session ends after this long without a request ...
pub const SESSION_IDLE_MS: i64 = 2 * HOUR_MS;
/// ... and this long after sign-in in any case.
pub const SESSION_LIFETIME_MS: i64 = 12 * HOUR_MS;
use crate::store::users::TokenRow;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Rep,
    Manager,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "rep" => Role::Rep,
            "manager" => Role::Manager,
            "admin" => Role::Admin,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Rep => "rep",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }
}

/// What a request may see and do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub role: Role,
    /// The `[[reps]]` id of a rep.
    pub rep: Option<String>,
    pub read_only: bool,
    /// For the records: `api:<fingerprint>` (config tokens) or `user:<login>`.
    pub who: String,
    pub language: Option<String>,
}

impl Scope {
    /// A config token: everything.
    pub fn admin(who: String) -> Scope {
        Scope {
            role: Role::Admin,
            rep: None,
            read_only: false,
            who,
            language: None,
        }
    }

    /// At least a manager.
    pub fn manages(&self) -> bool {
        self.role >= Role::Manager
    }

    /// May this scope see a customer owned by `owner`, sitting in `pool` when it has none?
    pub fn sees(&self, config: &Config, owner: Option<&str>, pool: &str) -> bool {
        if self.manages() {
            return true;
        }
        let Some(rep) = self.rep.as_deref() else {
            return false;
        };
        match owner {
            Some(o) => o == rep,
            None => config.rep_in_pool(rep, pool),
        }
    }

    /// May this scope change a customer owned by `owner`?
    pub fn changes(&self, owner: Option<&str>) -> bool {
        self.manages() || (self.rep.is_some() && owner == self.rep.as_deref())
    }
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("a password needs at least 10 characters")]
    WeakPassword,
    #[error("cannot hash the password")]
    Hash,
}

/// The argon2id hash (PHC string) of `password`, with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < 10 {
        return Err(AccountError::WeakPassword);
    }
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| AccountError::Hash)
}

/// Whether `password` matches the stored `hash`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A new token: (id, the SHA-256 of its secret to store, the token to show once).
pub fn new_token() -> (String, String, String) {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut id);
    OsRng.fill_bytes(&mut secret);
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    let token = format!("kw_{id}_{secret}");
    (id, secret_hash(&secret), token)
}

/// How a token's secret is stored.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// The (id, secret) of a `kw_<id>_<secret>` token.
pub fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("kw_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 12 && secret.len() == 64).then_some((id, secret))
}

/// The scope of a stored token presented with `secret`, if it is good: the secret matches (in
/// constant time), the token is not revoked and its user not disabled.
pub fn token_scope(row: &TokenRow, secret: &str) -> Option<Scope> {
    let given = secret_hash(secret);
    let same = given.len() == row.secret_hash.len()
        && given
            .bytes()
            .zip(row.secret_hash.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same || row.revoked || row.disabled {
        return None;
    }
    Some(Scope {
        role: Role::parse(&row.role)?,
        rep: row.rep.clone(),
        read_only: row.read_only,
        who: format!("user:{}", row.login),
        language: row.language.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(secret: &str) -> TokenRow {
        TokenRow {
            secret_hash: secret_hash(secret),
            read_only: false,
            revoked: false,
            login: "ana".into(),
            role: "rep".into(),
            rep: Some("ana".into()),
            language: None,
            disabled: false,
        }
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        assert!(matches!(
            hash_password("short"),
            Err(AccountError::WeakPassword)
        ));
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse battery!"));
        assert!(!verify_password("not a hash", "x"));
        assert_ne!(h, hash_password("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn a_token_is_good_only_with_its_secret_while_neither_it_nor_its_user_is_off() {
        let (id, hash, token) = new_token();
        let (pid, secret) = parse_token(&token).unwrap();
        assert_eq!(pid, id);
        assert_eq!(secret_hash(secret), hash);
        let good = row(secret);
        let scope = token_scope(&good, secret).unwrap();
        assert_eq!((scope.role, scope.rep.as_deref()), (Role::Rep, Some("ana")));
        assert!(token_scope(&good, &"0".repeat(64)).is_none());
        assert!(
            token_scope(
                &TokenRow {
                    revoked: true,
                    ..good.clone()
                },
                secret
            )
            .is_none()
        );
        assert!(
            token_scope(
                &TokenRow {
                    disabled: true,
                    ..good
                },
                secret
            )
            .is_none()
        );
        assert!(parse_token("kw_short_x").is_none());
        assert!(parse_token("tok-1").is_none());
    }

    #[test]
    fn a_rep_sees_its_own_and_its_pools_a_manager_everything() {
        let config = Config::from_toml(
            "[[reps]]\nid = \"ana\"\npools = [\"gulf\"]\n[[pools]]\nname = \"gulf\"\ncountries = [\"AE\"]\n[[pools]]\nname = \"rest\"\n",
            std::path::Path::new("t.toml"),
        )
        .unwrap();
        let ana = Scope {
            role: Role::Rep,
            rep: Some("ana".into()),
            read_only: false,
            who: "user:ana".into(),
            language: None,
        };
        assert!(ana.sees(&config, Some("ana"), "rest"));
        assert!(!ana.sees(&config, Some("bo"), "rest"));
        assert!(ana.sees(&config, None, "gulf"));
        assert!(!ana.sees(&config, None, "rest"));
        assert!(ana.changes(Some("ana")) && !ana.changes(None) && !ana.changes(Some("bo")));
        let boss = Scope {
            role: Role::Manager,
            rep: None,
            ..ana
        };
        assert!(boss.sees(&config, Some("bo"), "rest") && boss.changes(None));
    }
}
