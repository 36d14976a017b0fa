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
