//! Signing in and out: the form with its pre-session CSRF token, the password check with
//! lockout and the sign-in record, the session cookie.

use super::*;

#[derive(Debug, Default, Deserialize)]
pub(super) struct LoginQuery {
    #[serde(default)]
    expired: Option<String>,
}

pub(super) async fn login_form(
    State(s): State<Arc<ApiState>>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    if let Ok(Some(_)) = viewer(&s, &headers).await {
        return Redirect::to("/board").into_response();
    }
    let lang = page_lang(&s, &headers, None);
    let note = q
        .expired
        .map(|_| format!(r#"<p class="notice">{}</p>"#, esc(t(lang, "login.expired"))))
        .unwrap_or_default();
    login_page(&s, &headers, lang, &note, StatusCode::OK)
}

/// The sign-in form, with a fresh pre-session CSRF token (a cookie and the form's field).
pub(super) fn login_page(
    s: &ApiState,
    headers: &HeaderMap,
    lang: Lang,
    note: &str,
    status: StatusCode,
) -> Response {
    let pre = random_hex(16);
    let body = format!(
        r#"{note}<form class="login" method="post" action="/login">
<input type="hidden" name="csrf" value="{pre}">
<label for="login">{l}</label><input id="login" name="login" autocomplete="username" required>
<label for="password">{p}</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="sign-in">{submit}</button></form>"#,
        l = esc(t(lang, "login.login")),
        p = esc(t(lang, "login.password")),
        submit = esc(t(lang, "login.submit")),
    );
    let mut r = page(lang, None, t(lang, "login.title"), &body, status);
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie("kw_pre", &pre, 3600, secure(s, headers)),
    );
    r
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginIn {
    login: String,
    password: String,
    csrf: String,
}

pub(super) async fn login(
    State(s): State<Arc<ApiState>>,
    headers: HeaderMap,
    Form(f): Form<LoginIn>,
) -> Result<Response, ApiError> {
    let lang = page_lang(&s, &headers, None);
    let pre = cookie(&headers, "kw_pre").unwrap_or("");
    if pre.is_empty() || !crate::api::same(pre.as_bytes(), f.csrf.as_bytes()) {
        let note = format!(r#"<p class="error">{}</p>"#, esc(t(lang, "forbidden.text")));
        return Ok(login_page(&s, &headers, lang, &note, StatusCode::FORBIDDEN));
    }
    let db = &s.app.db;
    let now = now_ms();
    let remote = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(100).collect::<String>());
    let login: String = f.login.trim().chars().take(64).collect();
    let creds = store::users::credentials(db, &login).await?;
    let outcome = match &creds {
        None => {
            // As slow as a real check, so a login's existence does not show.
            crate::account::verify_password(DUMMY_HASH, &f.password);
            "unknown-user"
        }
        Some(c) if c.disabled => "disabled",
        Some(c) if c.locked_until.is_some_and(|u| u > now) => "locked",
        Some(c) => match &c.password_hash {
            Some(h) if crate::account::verify_password(h, &f.password) => "ok",
            _ => "bad-password",
        },
    };
    store::users::sign_in(
        db,
        &login,
        remote.as_deref(),
        outcome,
        now,
        LOCK_AFTER,
        LOCK_FOR,
    )
    .await?;
    tracing::info!(login = %login, outcome, "Sign-in.");
    if outcome != "ok" {
        let key = if outcome == "locked" {
            "login.locked"
        } else {
            "login.failed"
        };
        let note = format!(r#"<p class="error" role="alert">{}</p>"#, esc(t(lang, key)));
        return Ok(login_page(
            &s,
            &headers,
            lang,
            &note,
            StatusCode::UNAUTHORIZED,
        ));
    }
    let id = random_hex(32);
    store::users::create_session(db, &sha(&id), &login, &random_hex(16), now, now + LIFETIME)
        .await?;
    let mut r = Redirect::to("/board").into_response();
    let secure = secure(&s, &headers);
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie("kw_session", &id, LIFETIME / 1000, secure),
    );
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie("kw_pre", "", 0, secure));
    Ok(r)
}

/// An argon2id hash of nothing anyone knows (a sign-in for an unknown login checks it).
pub(super) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Jt5v5uyWdeH3Y7d3w1g4ZVm7mUj1pQm0X8bC6XvO2aM";

pub(super) async fn logout(
    State(s): State<Arc<ApiState>>,
    headers: HeaderMap,
    v: Viewer,
    Form(f): Form<CsrfIn>,
) -> Result<Response, ApiError> {
    if !csrf_ok(&v, &f.csrf) {
        return Ok(forbidden(&v));
    }
    store::users::end_session(&s.app.db, &v.id_hash).await?;
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie("kw_session", "", 0, secure(&s, &headers)),
    );
    Ok(r)
}
