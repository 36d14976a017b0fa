-- People who use keepwarm (the board and the API) and their API tokens.

-- role: 'rep' (sees its own customers and the pools it belongs to; rep_id names its [[reps]]
-- entry), 'manager' (everything, assigns, protects, the review), 'admin' (users, tokens,
-- mailboxes, and everything a manager does).
CREATE TABLE app_user (
    login         TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    rep_id        TEXT,
    password_hash TEXT,              -- argon2id, PHC string; NULL: no password (API only)
    language      TEXT,              -- 'zh' | 'en'; NULL: the browser's, else [team] language
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- A token is shown once as kw_<id>_<secret>; only the SHA-256 of the secret is kept.
CREATE TABLE api_token (
    id           TEXT PRIMARY KEY,
    login        TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    read_only    BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_token_login ON api_token (login);

-- Sign-in failures in a row, and until when the account is locked after too many.
ALTER TABLE app_user ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE app_user ADD COLUMN locked_until BIGINT;

-- Browser sessions: the cookie holds the id; only its SHA-256 is kept, with the session's
-- CSRF token. A session ends after idle_timeout without a request, and at expires_at.
CREATE TABLE web_session (
    id_hash    TEXT PRIMARY KEY,
    login      TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_session_login ON web_session (login);

-- One line per sign-in attempt: who, from where, whether it worked and why not.
CREATE TABLE sign_in (
    login   TEXT NOT NULL,
    at      BIGINT NOT NULL,
    remote  TEXT,
    outcome TEXT NOT NULL          -- 'ok' | 'bad-password' | 'unknown-user' | 'locked' | 'disabled'
);
CREATE INDEX sign_in_at ON sign_in (at);
