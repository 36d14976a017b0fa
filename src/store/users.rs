//! Users of the board and the API, and their tokens: rows only (hashing and the rules of who
//! sees what are `account`'s).

use sqlx::Row;

use super::{Context, Db, StoreError};

/// One user, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub login: String,
    pub role: String,
    pub rep: Option<String>,
    pub language: Option<String>,
    pub disabled: bool,
    pub has_password: bool,
    pub created_at: i64,
}

fn user(r: &sqlx::any::AnyRow) -> User {
    User {
        login: r.get(0),
        role: r.get(1),
        rep: r.get(2),
        language: r.get(3),
        disabled: r.get::<i64, _>(4) != 0,
        has_password: r.get::<Option<String>, _>(5).is_some(),
        created_at: r.get(6),
    }
}

const USER_COLUMNS: &str = "login, role, rep_id, language, disabled, password_hash, created_at";

/// Add a user; `false` when the login is taken.
pub async fn add(
    db: &Db,
    login: &str,
    role: &str,
    rep: Option<&str>,
    password_hash: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let mut tx = db.begin_write().await?;
    let taken = sqlx::query("SELECT 1 FROM app_user WHERE login = $1")
        .bind(login)
        .fetch_optional(&mut *tx)
        .await
        .ctx("look a login up")?
        .is_some();
    if taken {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO app_user (login, role, rep_id, password_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(login)
    .bind(role)
    .bind(rep)
    .bind(password_hash)
    .bind(now)
    .execute(&mut *tx)
    .await
    .ctx("add a user")?;
    tx.commit().await.ctx("commit a new user")?;
    Ok(true)
}

pub async fn list(db: &Db) -> Result<Vec<User>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM app_user ORDER BY login"
    )))
    .fetch_all(db.pool())
    .await
    .ctx("list users")?;
    Ok(rows.iter().map(user).collect())
}

pub async fn get(db: &Db, login: &str) -> Result<Option<User>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM app_user WHERE login = $1"
    )))
    .bind(login)
    .fetch_optional(db.pool())
    .await
    .ctx("read a user")?;
    Ok(row.as_ref().map(user))
}

/// Set a user's password hash and end its browser sessions but `keep` (the one changing it,
/// if any); `false` when there is no such user.
pub async fn set_password(
    db: &Db,
    login: &str,
    hash: &str,
    now: i64,
    keep: Option<&str>,
) -> Result<bool, StoreError> {
    let mut tx = db.begin_write().await?;
    let n = sqlx::query("UPDATE app_user SET password_hash = $1, updated_at = $2 WHERE login = $3")
        .bind(hash)
        .bind(now)
        .bind(login)
        .execute(&mut *tx)
        .await
        .ctx("set a password")?
        .rows_affected();
    sqlx::query("DELETE FROM web_session WHERE login = $1 AND ($2 IS NULL OR id_hash <> $2)")
        .bind(login)
        .bind(keep)
        .execute(&mut *tx)
        .await
        .ctx("end the sessions of a user")?;
    tx.commit().await.ctx("commit a password")?;
    Ok(n > 0)
}

/// Disable (or enable) a user: its sign-ins and tokens stop working. `false`: no such user.
pub async fn set_disabled(db: &Db, login: &str, on: bool, now: i64) -> Result<bool, StoreError> {
    let n = sqlx::query("UPDATE app_user SET disabled = $1, updated_at = $2 WHERE login = $3")
        .bind(i64::from(on))
        .bind(now)
        .bind(login)
        .execute(db.pool())
        .await
        .ctx("disable a user")?
        .rows_affected();
    Ok(n > 0)
}

/// Store a new token of `login`.
pub async fn add_token(
    db: &Db,
    id: &str,
    login: &str,
    secret_hash: &str,
    read_only: bool,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_token (id, login, secret_hash, read_only, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(login)
    .bind(secret_hash)
    .bind(i64::from(read_only))
    .bind(now)
    .execute(db.pool())
    .await
    .ctx("add a token")?;
    Ok(())
}

/// A token as the API checks it: its hash and its user's standing.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub secret_hash: String,
    pub read_only: bool,
    pub revoked: bool,
    pub login: String,
    pub role: String,
    pub rep: Option<String>,
    pub language: Option<String>,
    pub disabled: bool,
}

pub async fn token(db: &Db, id: &str) -> Result<Option<TokenRow>, StoreError> {
    let row = sqlx::query(
        "SELECT t.secret_hash, t.read_only, t.revoked_at, u.login, u.role, u.rep_id, u.language,
                u.disabled
         FROM api_token t JOIN app_user u ON u.login = t.login WHERE t.id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await
    .ctx("read a token")?;
    Ok(row.map(|r| TokenRow {
        secret_hash: r.get(0),
        read_only: r.get::<i64, _>(1) != 0,
        revoked: r.get::<Option<i64>, _>(2).is_some(),
        login: r.get(3),
        role: r.get(4),
        rep: r.get(5),
        language: r.get(6),
        disabled: r.get::<i64, _>(7) != 0,
    }))
}

/// The tokens (without secrets), newest first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub login: String,
    pub read_only: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub async fn tokens(db: &Db) -> Result<Vec<TokenInfo>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, login, read_only, created_at, last_used_at, revoked_at FROM api_token
         ORDER BY created_at DESC, id",
    )
    .fetch_all(db.pool())
    .await
    .ctx("list tokens")?;
    Ok(rows
        .iter()
        .map(|r| TokenInfo {
            id: r.get(0),
            login: r.get(1),
            read_only: r.get::<i64, _>(2) != 0,
            created_at: r.get(3),
            last_used_at: r.get(4),
            revoked_at: r.get(5),
        })
        .collect())
}

/// Revoke a token; `false`: no such token.
pub async fn revoke_token(db: &Db, id: &str, now: i64) -> Result<bool, StoreError> {
    let n =
        sqlx::query("UPDATE api_token SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(db.pool())
            .await
            .ctx("revoke a token")?
            .rows_affected();
    Ok(n > 0)
}

/// What signing in needs to know of a user.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
}

pub async fn credentials(db: &Db, login: &str) -> Result<Option<Credentials>, StoreError> {
    let row = sqlx::query(
        "SELECT password_hash, disabled, failed_logins, locked_until FROM app_user WHERE login = $1",
    )
    .bind(login)
    .fetch_optional(db.pool())
    .await
    .ctx("read a user's credentials")?;
    Ok(row.map(|r| Credentials {
        password_hash: r.get(0),
        disabled: r.get::<i64, _>(1) != 0,
        failed_logins: r.get(2),
        locked_until: r.get(3),
    }))
}

/// Record a sign-in attempt (the audit line) and its effect on the account: a success clears
/// the failures; a wrong password counts one, and `lock_after` in a row lock the account until
/// `now + lock_for`.
/// Failed sign-ins from `remote` since `since` (any login).
pub async fn failures_from(db: &Db, remote: &str, since: i64) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM sign_in WHERE at >= $1 AND remote = $2 AND outcome <> 'ok'",
    )
    .bind(since)
    .bind(remote)
    .fetch_one(db.pool())
    .await
    .ctx("count sign-in failures from an address")
}

pub async fn sign_in(
    db: &Db,
    login: &str,
    remote: Option<&str>,
    outcome: &str,
    now: i64,
    lock_after: i64,
    lock_for: i64,
) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO sign_in (login, at, remote, outcome) VALUES ($1, $2, $3, $4)")
        .bind(login)
        .bind(now)
        .bind(remote)
        .bind(outcome)
        .execute(&mut *tx)
        .await
        .ctx("record a sign-in")?;
    match outcome {
        "ok" => {
            sqlx::query(
                "UPDATE app_user SET failed_logins = 0, locked_until = NULL WHERE login = $1",
            )
            .bind(login)
            .execute(&mut *tx)
            .await
            .ctx("clear sign-in failures")?;
        }
        "bad-password" => {
            sqlx::query(
                "UPDATE app_user SET failed_logins = failed_logins + 1,
                   locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END
                 WHERE login = $1",
            )
            .bind(login)
            .bind(lock_after)
            .bind(now + lock_for)
            .execute(&mut *tx)
            .await
            .ctx("count a sign-in failure")?;
        }
        _ => {}
    }
    tx.commit().await.ctx("commit a sign-in")?;
    Ok(())
}

/// A browser session with its user's standing.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub login: String,
    pub csrf: String,
    pub seen_at: i64,
    pub expires_at: i64,
    pub role: String,
    pub rep: Option<String>,
    pub language: Option<String>,
    pub disabled: bool,
}

pub async fn create_session(
    db: &Db,
    id_hash: &str,
    login: &str,
    csrf: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO web_session (id_hash, login, csrf, created_at, seen_at, expires_at)
         VALUES ($1, $2, $3, $4, $4, $5)",
    )
    .bind(id_hash)
    .bind(login)
    .bind(csrf)
    .bind(now)
    .bind(expires_at)
    .execute(db.pool())
    .await
    .ctx("create a session")?;
    Ok(())
}

pub async fn session(db: &Db, id_hash: &str) -> Result<Option<SessionRow>, StoreError> {
    let row = sqlx::query(
        "SELECT s.login, s.csrf, s.seen_at, s.expires_at, u.role, u.rep_id, u.language, u.disabled
         FROM web_session s JOIN app_user u ON u.login = s.login WHERE s.id_hash = $1",
    )
    .bind(id_hash)
    .fetch_optional(db.pool())
    .await
    .ctx("read a session")?;
    Ok(row.map(|r| SessionRow {
        login: r.get(0),
        csrf: r.get(1),
        seen_at: r.get(2),
        expires_at: r.get(3),
        role: r.get(4),
        rep: r.get(5),
        language: r.get(6),
        disabled: r.get::<i64, _>(7) != 0,
    }))
}

pub async fn touch_session(db: &Db, id_hash: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE web_session SET seen_at = $1 WHERE id_hash = $2")
        .bind(now)
        .bind(id_hash)
        .execute(db.pool())
        .await
        .ctx("touch a session")?;
    Ok(())
}

pub async fn end_session(db: &Db, id_hash: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM web_session WHERE id_hash = $1")
        .bind(id_hash)
        .execute(db.pool())
        .await
        .ctx("end a session")?;
    Ok(())
}

/// The user's language for the board (`None`: the browser's).
pub async fn set_language(db: &Db, login: &str, language: Option<&str>) -> Result<(), StoreError> {
    sqlx::query("UPDATE app_user SET language = $1 WHERE login = $2")
        .bind(language)
        .bind(login)
        .execute(db.pool())
        .await
        .ctx("set a user's language")?;
    Ok(())
}
