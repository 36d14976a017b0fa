//! The team's board in the browser, served by `keepwarm run` on the public listener: sign in,
//! my follow-ups, a customer (timeline, traits with accept / dismiss, history), the pools with
//! claim buttons, search, and the language switch (English, 简体中文). Server-rendered HTML,
//! no script at all; every form carries the session's CSRF token; sessions live in the
//! database (any instance serves any request), end after `IDLE` without a request or at
//! `LIFETIME`; five wrong passwords in a row lock an account for `LOCK_FOR`; every sign-in
//! attempt is recorded.

mod customer;
pub mod i18n;
mod me;
mod pool;
mod rules;
mod session;
mod team;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sha2::Digest;

use self::i18n::{Lang, ago, t, t1, tn, when};
use super::{ApiError, ApiState};
use crate::account::{Role, Scope};
use crate::followup::changes::{Ask, act};
use crate::followup::policy::State as FuState;
use crate::store::{self, now_ms};
use crate::time::MINUTE_MS;

/// A session ends after this long without a request, and this long after sign-in in any case.
const IDLE: i64 = crate::account::SESSION_IDLE_MS;
const LIFETIME: i64 = crate::account::SESSION_LIFETIME_MS;
/// Rows of a manager's board (the most urgent first; one rep's board shows them all).
const BOARD_ROWS: usize = 500;
/// Wrong passwords in a row that lock an account, and for how long.
const LOCK_AFTER: i64 = 5;
const LOCK_FOR: i64 = 15 * MINUTE_MS;
/// Failed sign-ins from one address within `LOCK_FOR` after which it may not try again until
/// they age out (whatever the logins tried).
const ADDRESS_LIMIT: i64 = 20;

pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/board") }))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/board", get(board))
        .route("/customers/{id}", get(customer::customer))
        .route("/customers/{id}/tags/{tag}", post(customer::tag_feedback))
        .route("/customers/{id}/act", post(customer::act_on))
        .route("/pool", get(pool::pool))
        .route("/pool/{id}/claim", post(pool::claim))
        .route("/search", get(pool::search))
        .route("/team", get(team::team))
        .route("/rules", get(rules::rules))
        .route("/lang", get(language))
        .route("/account", get(me::account))
        .route("/account/language", post(me::set_language))
        .route("/account/password", post(me::set_password))
}

/// The signed-in person looking at a page.
struct Viewer {
    login: String,
    scope: Scope,
    csrf: String,
    lang: Lang,
    id_hash: String,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn random_hex(bytes: usize) -> String {
    use rand_core::RngCore;
    let mut b = vec![0u8; bytes];
    rand_core::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn sha(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// The language of a page: the user's setting, else the language cookie, else the browser's,
/// else the team's.
fn page_lang(s: &ApiState, headers: &HeaderMap, setting: Option<&str>) -> Lang {
    setting
        .and_then(Lang::parse)
        .or_else(|| cookie(headers, "kw_lang").and_then(Lang::parse))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept)
        })
        .or_else(|| s.app.config.team.language.as_deref().and_then(Lang::parse))
        .unwrap_or(Lang::En)
}

/// Cookies are `Secure` unless the request came over plain HTTP to a loopback listener (the
/// demo); behind a TLS proxy, `X-Forwarded-Proto: https` says so.
fn secure(s: &ApiState, headers: &HeaderMap) -> bool {
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let loopback = s
        .app
        .config
        .board_listen()
        .and_then(|l| l.parse::<std::net::SocketAddr>().ok())
        .is_none_or(|a| a.ip().is_loopback());
    forwarded_https || !loopback
}

fn set_cookie(name: &str, value: &str, max_age_s: i64, secure: bool) -> HeaderValue {
    let v = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session of a request, if it is live (an ended one is removed).
async fn viewer(s: &ApiState, headers: &HeaderMap) -> Result<Option<Viewer>, ApiError> {
    let Some(id) = cookie(headers, "kw_session").filter(|v| v.len() == 64) else {
        return Ok(None);
    };
    let id_hash = sha(id);
    let db = &s.app.db;
    let Some(row) = store::users::session(db, &id_hash).await? else {
        return Ok(None);
    };
    let now = now_ms();
    if row.disabled || now >= row.expires_at || now - row.seen_at >= IDLE {
        store::users::end_session(db, &id_hash).await?;
        return Ok(None);
    }
    if now - row.seen_at > MINUTE_MS {
        store::users::touch_session(db, &id_hash, now).await?;
    }
    let Some(role) = Role::parse(&row.role) else {
        return Ok(None);
    };
    let lang = page_lang(s, headers, row.language.as_deref());
    Ok(Some(Viewer {
        scope: Scope {
            role,
            rep: row.rep,
            read_only: false,
            who: format!("user:{}", row.login),
            language: row.language,
        },
        login: row.login,
        csrf: row.csrf,
        lang,
        id_hash,
    }))
}

/// A page for the signed-in only: without a live session, the way to the sign-in page.
impl axum::extract::FromRequestParts<Arc<ApiState>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &Arc<ApiState>,
    ) -> Result<Viewer, Response> {
        match viewer(s, &parts.headers).await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(Redirect::to("/login?expired=1").into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// HTML-escaped text.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment, percent-encoded.
fn seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const STYLE: &str = include_str!("board.css");

/// A whole page: the navigation (with search and the language switch) and `body`.
fn page(lang: Lang, v: Option<&Viewer>, title: &str, body: &str, status: StatusCode) -> Response {
    let nav = match v {
        Some(v) => format!(
            r#"<nav><a href="/board">{board}</a> <a href="/pool">{pool}</a>
<form class="search" action="/search" method="get" role="search"><label for="q" class="hidden">{search}</label><input id="q" name="q" type="search" placeholder="{hint}"><button type="submit">{search}</button></form>
{team}<a href="/rules">{rules}</a> <a href="/lang?to={other}" lang="{other}">{switch}</a>
<a href="/account" id="account">{who}</a> <form action="/logout" method="post"><input type="hidden" name="csrf" value="{csrf}"><button type="submit" id="sign-out">{out}</button></form></nav>"#,
            team = if v.scope.manages() {
                format!(r#"<a href="/team">{}</a> "#, esc(t(lang, "nav.team")))
            } else {
                String::new()
            },
            board = esc(t(
                lang,
                if v.scope.manages() {
                    "nav.board_all"
                } else {
                    "nav.board"
                }
            )),
            pool = esc(t(lang, "nav.pool")),
            rules = esc(t(lang, "nav.rules")),
            search = esc(t(lang, "nav.search")),
            hint = esc(t(lang, "nav.search_hint")),
            other = lang.other().code(),
            switch = esc(t(lang, "nav.language")),
            csrf = esc(&v.csrf),
            out = esc(t(lang, "nav.sign_out")),
            who = esc(&v.login),
        ),
        None => format!(
            r#"<nav><a href="/lang?to={other}" lang="{other}">{switch}</a></nav>"#,
            other = lang.other().code(),
            switch = esc(t(lang, "nav.language")),
        ),
    };
    let html = format!(
        r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · keepwarm</title><style>{STYLE}</style></head>
<body><header><strong>keepwarm</strong>{nav}</header><main><h1>{title}</h1>
{body}</main></body></html>"#,
        lang = if lang == Lang::Zh { "zh-Hans" } else { "en" },
        title = esc(title),
    );
    let mut r = (status, axum::response::Html(html)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// What a change did, on top of a page.
fn notice(text: &str) -> String {
    format!(
        r#"<p class="notice" role="status" id="done">{}</p>"#,
        esc(text)
    )
}

/// Why a change was not done, on top of a page.
fn alert(text: &str) -> String {
    format!(
        r#"<p class="error" role="alert" id="refusal">{}</p>"#,
        esc(text)
    )
}

/// Why a change was refused, in words (`key` frames the refusal's reason), with its code.
fn refused(lang: Lang, key: &str, reason: crate::followup::ownership::Reason) -> String {
    let words = t(lang, &format!("refusal.{}", reason.code()));
    format!(
        r#"<p class="error" role="alert" id="refusal" data-reason="{code}">{}</p>"#,
        esc(&t1(lang, key, words)),
        code = reason.code(),
    )
}

/// The start of a table (in a box that scrolls on a narrow screen) with its column heads; the
/// rows and `</tbody></table></div>` follow.
fn table_open(id: &str, heads: &[&str]) -> String {
    let heads: String = heads
        .iter()
        .map(|h| format!("<th>{}</th>", esc(h)))
        .collect();
    format!(r#"<div class="scroll"><table id="{id}"><thead><tr>{heads}</tr></thead><tbody>"#)
}

fn not_found(v: &Viewer) -> Response {
    page(
        v.lang,
        Some(v),
        t(v.lang, "notfound.title"),
        &format!("<p>{}</p>", esc(t(v.lang, "notfound.text"))),
        StatusCode::NOT_FOUND,
    )
}

/// A form with nothing but the CSRF token.
#[derive(Debug, Deserialize)]
struct CsrfIn {
    csrf: String,
}

/// A form's CSRF token must be the session's.
fn csrf_ok(v: &Viewer, given: &str) -> bool {
    super::same(v.csrf.as_bytes(), given.as_bytes())
}

fn forbidden(v: &Viewer) -> Response {
    page(
        v.lang,
        Some(v),
        t(v.lang, "notfound.title"),
        &format!("<p>{}</p>", esc(t(v.lang, "forbidden.text"))),
        StatusCode::FORBIDDEN,
    )
}

#[derive(Debug, Default, Deserialize)]
struct BoardQuery {
    #[serde(default)]
    owner: Option<String>,
}

fn state_key(st: FuState) -> String {
    format!("state.{}", st.as_str())
}

fn reason_key(reason: &str) -> &'static str {
    match reason {
        "first touch" => "reason.first_touch",
        "reply to the customer" => "reason.reply",
        "second follow-up" => "reason.second_follow_up",
        _ => "reason.contact_interval",
    }
}

/// The next step of `tag` in the reader's language (advice to the rep).
fn next_step(s: &ApiState, tag: &str, lang: Lang) -> String {
    s.app
        .rules
        .current()
        .rule(tag)
        .map(|r| r.next_step(lang.code()).to_string())
        .unwrap_or_default()
}

/// My follow-ups (a manager: everyone's, or one owner's with `?owner=`), most urgent first.
async fn board(
    State(s): State<Arc<ApiState>>,
    v: Viewer,
    Query(q): Query<BoardQuery>,
) -> Result<Response, ApiError> {
    let (db, config, lang) = (&s.app.db, &s.app.config, v.lang);
    let now = now_ms();
    let owner = if v.scope.manages() {
        q.owner.filter(|o| !o.is_empty())
    } else {
        v.scope.rep.clone()
    };
    let rows = match &owner {
        Some(o) => store::followup::timers_of_owner(db, o).await?,
        None => store::followup::all_timers(db).await?,
    };
    let judge = crate::followup::sweep::Judge::load(db, config).await?;
    let tags = store::customers::live_tags_of(db, owner.as_deref(), now).await?;
    let offset = config.followup.calendar().offset_ms;
    let recent = now - config.followup.recent_ms();
    let mut entries: Vec<_> = rows
        .into_iter()
        .filter(|c| c.owner.is_some())
        .map(|c| {
            let a = judge.assess(&c, now);
            (c, a)
        })
        .collect();
    entries.sort_by(|(c1, a1), (c2, a2)| {
        (a1.state, a1.next_due_at, &c1.id).cmp(&(a2.state, a2.next_due_at, &c2.id))
    });
    // A manager: the reps to choose from, and the team's most urgent only.
    let total = entries.len();
    let mut chooser = String::new();
    if v.scope.manages() {
        if owner.is_none() {
            entries.truncate(BOARD_ROWS);
        }
        chooser.push_str(r#"<p class="pools">"#);
        chooser.push_str(&format!(
            r#"<a href="/board">{}</a>"#,
            esc(t(lang, "board.everyone"))
        ));
        for r in &config.reps {
            chooser.push_str(&format!(
                r#" · <a href="/board?owner={}">{}</a>"#,
                seg(&r.id),
                esc(&r.id)
            ));
        }
        chooser.push_str("</p>");
        if total > entries.len() {
            chooser.push_str(&format!(
                r#"<p class="why">{}</p>"#,
                esc(&t1(lang, "board.most_urgent", &entries.len().to_string()))
            ));
        }
    }
    let mut rows_html = String::new();
    for (c, a) in &entries {
        let mut flags: Vec<String> = Vec::new();
        if let Some(until) = c.paused_until.filter(|u| *u > now) {
            flags.push(t1(lang, "flag.away", &when(until, offset)));
        }
        if let (Some(rep), Some(at)) = (&c.conflict_rep, c.conflict_at)
            && at >= recent
        {
            flags.push(t1(lang, "flag.conflict", rep));
        }
        if let Some(why) = &c.release_frozen {
            flags.push(t1(lang, "flag.held", why));
        }
        if let (Some(w), Some(release_at)) =
            (config.pool.warn_before_release.as_ref(), a.release_at)
            && now >= release_at - w.ms()
            && now < release_at
        {
            flags.push(t1(lang, "flag.release", &ago(lang, Some(release_at), now)));
        }
        if c.protected || c.stage == "signed" {
            flags.push(t(lang, "flag.protected").to_string());
        }
        let top = tags.get(&c.id).and_then(|t| t.first());
        let (tag_html, step_html) = match top {
            Some((tag, _)) => (
                format!(r#"<span class="tag">{}</span>"#, esc(tag)),
                esc(&next_step(&s, tag, lang)),
            ),
            None => (String::new(), String::new()),
        };
        rows_html.push_str(&format!(
            r#"<tr class="{state}"><td><a href="/customers/{id}">{name}</a>{owner}<div class="flags">{flags}</div></td><td data-label="{l_tier}">{tier}</td><td data-label="{l_state}"><span class="state">{state_text}</span></td><td data-label="{l_in}">{last_in}</td><td data-label="{l_out}">{last_out}</td><td data-label="{l_next}">{due}<div class="why">{why}</div></td><td>{tag_html}<div class="step">{step_html}</div></td></tr>"#,
            l_tier = esc(t(lang, "board.tier")),
            l_state = esc(t(lang, "board.state")),
            l_in = esc(t(lang, "board.last_in")),
            l_out = esc(t(lang, "board.last_out")),
            l_next = esc(t(lang, "board.next")),
            state = a.state.as_str(),
            id = seg(&c.id),
            name = esc(&c.name),
            owner = if owner.is_none() {
                format!(r#"<div class="owner">{}</div>"#, esc(c.owner.as_deref().unwrap_or("")))
            } else {
                String::new()
            },
            flags = flags.iter().map(|f| esc(f)).collect::<Vec<_>>().join(" · "),
            tier = esc(&c.tier),
            state_text = esc(t(lang, &state_key(a.state))),
            last_in = esc(&ago(lang, c.last_inbound_at, now)),
            last_out = esc(&ago(lang, c.last_outbound_at, now)),
            due = esc(&ago(lang, Some(a.next_due_at), now)),
            why = esc(t(lang, reason_key(a.reason))),
        ));
    }
    let body = if entries.is_empty() {
        format!("<p>{}</p>", esc(t(lang, "board.empty")))
    } else {
        format!(
            r#"{chooser}<p>{n} {count}</p><div class="scroll"><table id="board"><thead><tr><th>{c}</th><th>{tier}</th><th>{st}</th><th>{li}</th><th>{lo}</th><th>{next}</th><th>{step}</th></tr></thead><tbody>{rows_html}</tbody></table></div>"#,
            n = total,
            count = esc(t(lang, "board.count")),
            c = esc(t(lang, "board.customer")),
            tier = esc(t(lang, "board.tier")),
            st = esc(t(lang, "board.state")),
            li = esc(t(lang, "board.last_in")),
            lo = esc(t(lang, "board.last_out")),
            next = esc(t(lang, "board.next")),
            step = esc(t(lang, "board.next_step")),
        )
    };
    let title = t(
        lang,
        if v.scope.manages() {
            "nav.board_all"
        } else {
            "nav.board"
        },
    );
    Ok(page(lang, Some(&v), title, &body, StatusCode::OK))
}

#[derive(Debug, Default, Deserialize)]
struct LangQuery {
    #[serde(default)]
    to: String,
}

/// Switch the board's language (remembered for the user, and in a cookie before sign-in).
async fn language(
    State(s): State<Arc<ApiState>>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let Some(lang) = Lang::parse(&q.to) else {
        return Ok(Redirect::to("/board").into_response());
    };
    let signed = viewer(&s, &headers).await?;
    if let Some(v) = &signed {
        store::users::set_language(&s.app.db, &v.login, Some(lang.code())).await?;
    }
    let back = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(back_path)
        .unwrap_or_else(|| {
            if signed.is_some() {
                "/board".into()
            } else {
                "/login".into()
            }
        });
    let mut r = Redirect::to(&back).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie("kw_lang", lang.code(), 365 * 86_400, secure(&s, &headers)),
    );
    Ok(r)
}

/// The path of the page a `Referer` names, to go back to: only a path of this site (never
/// `//host` or `/\\host`, which browsers read as another site).
fn back_path(referer: &str) -> Option<String> {
    let rest = referer.split_once("://").map(|(_, rest)| rest)?;
    let path = &rest[rest.find('/')?..];
    (path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/lang")
        && !path.contains('\\'))
    .then(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn going_back_stays_on_this_site() {
        assert_eq!(
            back_path("http://kw.example/board?x=1").as_deref(),
            Some("/board?x=1")
        );
        assert_eq!(back_path("http://kw.example//evil.example/"), None);
        assert_eq!(back_path("http://kw.example/\\evil.example"), None);
        assert_eq!(back_path("http://kw.example/lang?to=zh"), None);
        assert_eq!(back_path("kw.example/board"), None);
    }

    #[test]
    fn text_is_escaped_and_segments_encoded() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(seg("C 1/é"), "C%201%2F%C3%A9");
    }

    #[test]
    fn the_dummy_hash_is_a_valid_argon2id_hash() {
        assert!(argon2::password_hash::PasswordHash::new(session::DUMMY_HASH).is_ok());
        assert!(!crate::account::verify_password(session::DUMMY_HASH, ""));
    }
}
