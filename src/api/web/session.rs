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

/// Who is signing in: the connection's address, or behind a trusted proxy (this host's, or
/// one of `[http] trusted_proxies`) the first address of its `X-Forwarded-For`.
fn remote_of(
    http: &crate::config::HttpConfig,
    peer: Option<std::net::SocketAddr>,
    headers: &HeaderMap,
) -> Option<String> {
    let forwarded = || {
        headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().chars().take(64).collect::<String>())
            .filter(|v| !v.is_empty())
    };
    match peer {
        Some(p) if http.trusts_proxy(p.ip()) => forwarded().or_else(|| Some(p.ip().to_string())),
        Some(p) => Some(p.ip().to_string()),
        None => forwarded(),
    }
}

pub(super) async fn login(
    State(s): State<Arc<ApiState>>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
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
    let remote = remote_of(&s.app.config.http, peer.map(|p| (p.0).0), &headers);
    let login: String = f.login.trim().chars().take(64).collect();
    // Many failures from one address (guessing across logins) stop its sign-ins for a while,
    // before any password is checked.
    let address_limited = match &remote {
        Some(r) => store::users::failures_from(db, r, now - LOCK_FOR).await? >= ADDRESS_LIMIT,
        None => false,
    };
    let creds = if address_limited {
        None
    } else {
        store::users::credentials(db, &login).await?
    };
    let outcome = match &creds {
        None if address_limited => "address-limited",
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
        let key = match outcome {
            "locked" => "login.locked",
            "address-limited" => "login.address_limited",
            _ => "login.failed",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_of_a_sign_in_believes_only_trusted_proxies() {
        let mut http = crate::config::HttpConfig::default();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.2".parse().unwrap());
        let peer = |s: &str| Some(s.parse::<std::net::SocketAddr>().unwrap());
        // Straight from the internet: the connection's address, whatever the header says.
        assert_eq!(
            remote_of(&http, peer("198.51.100.4:5000"), &headers).as_deref(),
            Some("198.51.100.4")
        );
        // A proxy on this host, or a named one: the client it names.
        assert_eq!(
            remote_of(&http, peer("127.0.0.1:5000"), &headers).as_deref(),
            Some("203.0.113.9")
        );
        http.trusted_proxies = vec!["198.51.100.4".into()];
        assert_eq!(
            remote_of(&http, peer("198.51.100.4:5000"), &headers).as_deref(),
            Some("203.0.113.9")
        );
        // A trusted proxy that says nothing: its own address.
        assert_eq!(
            remote_of(&http, peer("127.0.0.1:5000"), &HeaderMap::new()).as_deref(),
            Some("127.0.0.1")
        );
    }
}
