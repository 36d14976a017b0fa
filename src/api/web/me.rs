//! The reader's own account: the board's language (the browser's, English or Chinese) and
//! the password (the current one first; other sessions end).

use super::*;

/// The account page, with `note` on top.
fn account_page(v: &Viewer, note: &str, status: StatusCode) -> Response {
    let lang = v.lang;
    let current = v.scope.language.as_deref().unwrap_or("");
    let options: String = [
        ("", "account.lang_browser"),
        ("en", "account.lang_en"),
        ("zh", "account.lang_zh"),
    ]
    .iter()
    .map(|(code, key)| {
        format!(
            r#"<option value="{code}"{sel}>{name}</option>"#,
            sel = if *code == current { " selected" } else { "" },
            name = esc(t(lang, key)),
        )
    })
    .collect();
    let body = format!(
        r#"{note}<p class="facts">{who}</p>
<h2>{lang_h}</h2><form method="post" action="/account/language" class="act"><input type="hidden" name="csrf" value="{csrf}"><label for="language">{lang_l}</label> <select id="language" name="language">{options}</select> <button type="submit" id="save-language">{save}</button></form>
<h2>{pw_h}</h2><form method="post" action="/account/password" class="login"><input type="hidden" name="csrf" value="{csrf}">
<label for="current">{cur}</label><input id="current" name="current" type="password" autocomplete="current-password" required>
<label for="new">{new}</label><input id="new" name="new" type="password" autocomplete="new-password" minlength="10" required>
<label for="again">{again}</label><input id="again" name="again" type="password" autocomplete="new-password" minlength="10" required>
<button type="submit" id="change-password">{change}</button></form>"#,
        who = esc(&tn(
            lang,
            "account.who",
            &[
                &v.login,
                t(lang, &format!("role.{}", v.scope.role.as_str()))
            ]
        )),
        lang_h = esc(t(lang, "account.language")),
        lang_l = esc(t(lang, "account.language")),
        csrf = esc(&v.csrf),
        save = esc(t(lang, "customer.save")),
        pw_h = esc(t(lang, "account.password")),
        cur = esc(t(lang, "account.current")),
        new = esc(t(lang, "account.new")),
        again = esc(t(lang, "account.again")),
        change = esc(t(lang, "account.change")),
    );
    page(lang, Some(v), t(lang, "account.title"), &body, status)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct AccountQuery {
    #[serde(default)]
    saved: Option<String>,
}

pub(super) async fn account(v: Viewer, Query(q): Query<AccountQuery>) -> Response {
    let note = match q.saved.as_deref() {
        Some("language") => "account.saved_language",
        Some("password") => "account.saved_password",
        _ => "",
    };
    let note = if note.is_empty() {
        String::new()
    } else {
        notice(t(v.lang, note))
    };
    account_page(&v, &note, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub(super) struct LanguageIn {
    csrf: String,
    #[serde(default)]
    language: String,
}

/// Keep the reader's language (empty: follow the browser).
pub(super) async fn set_language(
    State(s): State<Arc<ApiState>>,
    headers: HeaderMap,
    v: Viewer,
    Form(f): Form<LanguageIn>,
) -> Result<Response, ApiError> {
    if !csrf_ok(&v, &f.csrf) {
        return Ok(forbidden(&v));
    }
    let language = Lang::parse(&f.language).map(Lang::code);
    store::users::set_language(&s.app.db, &v.login, language).await?;
    let mut r = Redirect::to("/account?saved=language").into_response();
    // The language cookie follows, so the sign-in page speaks it too (or forgets it).
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            "kw_lang",
            language.unwrap_or(""),
            if language.is_some() { 365 * 86_400 } else { 0 },
            secure(&s, &headers),
        ),
    );
    Ok(r)
}

#[derive(Debug, Deserialize)]
pub(super) struct PasswordIn {
    csrf: String,
    current: String,
    new: String,
    again: String,
}

/// Change the reader's password: the current one must be right, the new one typed twice and
/// long enough; every other session of the account ends.
pub(super) async fn set_password(
    State(s): State<Arc<ApiState>>,
    v: Viewer,
    Form(f): Form<PasswordIn>,
) -> Result<Response, ApiError> {
    if !csrf_ok(&v, &f.csrf) {
        return Ok(forbidden(&v));
    }
    let db = &s.app.db;
    let refuse = |key: &str| {
        Ok(account_page(
            &v,
            &alert(t(v.lang, key)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ))
    };
    let right = match store::users::credentials(db, &v.login).await? {
        Some(c) => c
            .password_hash
            .as_deref()
            .is_some_and(|h| crate::account::verify_password(h, &f.current)),
        None => false,
    };
    if !right {
        tracing::info!(login = %v.login, "Password change refused: wrong current password.");
        return refuse("account.wrong_current");
    }
    if f.new != f.again {
        return refuse("account.mismatch");
    }
    let Ok(hash) = crate::account::hash_password(&f.new) else {
        return refuse("account.weak");
    };
    store::users::set_password(db, &v.login, &hash, now_ms(), Some(&v.id_hash)).await?;
    tracing::info!(login = %v.login, "Password changed on the board; other sessions ended.");
    Ok(Redirect::to("/account?saved=password").into_response())
}
