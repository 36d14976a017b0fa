//! The pools the reader may see, claims from them, and search.

use super::*;

#[derive(Debug, Default, Deserialize)]
pub(super) struct PoolQuery {
    #[serde(default)]
    claimed: Option<String>,
    /// Only this pool.
    #[serde(default)]
    pool: Option<String>,
}

/// Rows a pool page lists (the most recently released first); the rest are counted.
const POOL_ROWS: usize = 500;

/// The pools the reader may see, with claim buttons for reps.
pub(super) async fn pool(
    State(s): State<Arc<ApiState>>,
    v: Viewer,
    Query(q): Query<PoolQuery>,
) -> Result<Response, ApiError> {
    let note = q
        .claimed
        .map(|c| {
            format!(
                r#"<p class="notice" role="status">{}</p>"#,
                esc(&t1(v.lang, "pool.claimed", &c))
            )
        })
        .unwrap_or_default();
    pool_page(&s, &v, q.pool.as_deref(), &note, StatusCode::OK).await
}

pub(super) async fn pool_page(
    s: &ApiState,
    v: &Viewer,
    only: Option<&str>,
    note: &str,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let (db, config, lang) = (&s.app.db, &s.app.config, v.lang);
    let now = now_ms();
    let mut rows = String::new();
    let (mut n, mut per_pool) = (0, std::collections::BTreeMap::<String, usize>::new());
    let reps: String = config
        .reps
        .iter()
        .map(|r| format!(r#"<option value="{0}">{0}</option>"#, esc(&r.id)))
        .collect();
    for r in store::followup::pool(db).await? {
        let pool =
            store::ownership::pool_of(config, r.pool.as_deref(), r.country.as_deref(), &r.tier);
        if !v.scope.sees(config, None, pool) {
            continue;
        }
        *per_pool.entry(pool.to_string()).or_default() += 1;
        if only.is_some_and(|o| o != pool) {
            continue;
        }
        n += 1;
        if n > POOL_ROWS {
            continue;
        }
        let claim = if v.scope.manages() && !reps.is_empty() {
            // A manager hands it to a rep (the customer page says how that went).
            format!(
                r#"<form method="post" action="/customers/{id}/act"><input type="hidden" name="csrf" value="{csrf}"><label for="to-{idt}" class="hidden">{label}</label><select id="to-{idt}" name="rep">{reps}</select> <button name="action" value="assign" id="assign-{idt}">{button}</button></form>"#,
                id = seg(&r.id),
                idt = esc(&r.id),
                csrf = esc(&v.csrf),
                label = esc(t(lang, "customer.assign_to")),
                button = esc(t(lang, "customer.assign")),
            )
        } else if v.scope.rep.is_some() {
            format!(
                r#"<form method="post" action="/pool/{id}/claim"><input type="hidden" name="csrf" value="{csrf}"><button type="submit" id="claim-{idt}">{label}</button></form>"#,
                id = seg(&r.id),
                idt = esc(&r.id),
                csrf = esc(&v.csrf),
                label = esc(t(lang, "pool.claim")),
            )
        } else {
            String::new()
        };
        rows.push_str(&format!(
            r#"<tr><td><a href="/customers/{id}">{name}</a></td><td>{pool}</td><td>{tier}</td><td>{released}</td><td>{former}</td><td>{claim}</td></tr>"#,
            id = seg(&r.id),
            name = esc(&r.name),
            pool = esc(pool),
            tier = esc(&r.tier),
            released = match r.released_at {
                Some(at) => esc(&ago(lang, Some(at), now)),
                None => esc(t(lang, "pool.never_owned")),
            },
            former = esc(r.former_owner.as_deref().unwrap_or("-")),
        ));
    }
    // The pools the reader sees, each a link to itself alone.
    let mut pools = String::new();
    if per_pool.len() > 1 || only.is_some() {
        pools.push_str(r#"<p class="pools">"#);
        pools.push_str(&format!(
            r#"<a href="/pool">{}</a>"#,
            esc(t(lang, "pool.all"))
        ));
        for (name, count) in &per_pool {
            pools.push_str(&format!(
                r#" · <a href="/pool?pool={q}">{name} ({count})</a>"#,
                q = seg(name),
                name = esc(name),
            ));
        }
        pools.push_str("</p>");
    }
    let more = if n > POOL_ROWS {
        format!(
            r#"<p class="why">{}</p>"#,
            esc(&t1(lang, "pool.more", &(n - POOL_ROWS).to_string()))
        )
    } else {
        String::new()
    };
    let body = if n == 0 {
        format!("{note}{pools}<p>{}</p>", esc(t(lang, "pool.empty")))
    } else {
        format!(
            r#"{note}{pools}{more}<div class="scroll"><table id="pool"><thead><tr><th>{c}</th><th>{p}</th><th>{tier}</th><th>{rel}</th><th>{former}</th><th></th></tr></thead><tbody>{rows}</tbody></table></div>"#,
            c = esc(t(lang, "board.customer")),
            p = esc(t(lang, "nav.pool")),
            tier = esc(t(lang, "board.tier")),
            rel = esc(t(lang, "pool.released")),
            former = esc(t(lang, "pool.former")),
        )
    };
    Ok(page(lang, Some(v), t(lang, "pool.title"), &body, status))
}

pub(super) async fn claim(
    State(s): State<Arc<ApiState>>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<CsrfIn>,
) -> Result<Response, ApiError> {
    if !csrf_ok(&v, &f.csrf) {
        return Ok(forbidden(&v));
    }
    let Some(rep) = v.scope.rep.clone() else {
        return Ok(forbidden(&v));
    };
    let config = &s.app.config;
    match store::ownership::peek(&s.app.db, &id).await? {
        Some(h)
            if v.scope
                .sees(config, h.owner.as_deref(), h.pool_name(config)) => {}
        _ => return Ok(not_found(&v)),
    }
    let ask = Ask::Claim { rep, reason: None };
    match act(&s.app.db, config, &id, &ask, &v.scope.who, now_ms()).await {
        Ok(Ok(_)) => Ok(Redirect::to(&format!("/pool?claimed={}", seg(&id))).into_response()),
        Ok(Err(refusal)) => {
            let note = refused(v.lang, "pool.refused", refusal.reason);
            pool_page(&s, &v, None, &note, StatusCode::CONFLICT).await
        }
        Err(crate::followup::changes::AskError::Store(e)) => Err(e.into()),
        Err(_) => Ok(not_found(&v)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// Customers by name, address, domain or phone, among those the reader may see.
pub(super) async fn search(
    State(s): State<Arc<ApiState>>,
    v: Viewer,
    Query(q): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    let (config, lang) = (&s.app.config, v.lang);
    let needle: String = q.q.trim().chars().take(100).collect();
    let mut items = String::new();
    if !needle.is_empty() {
        for (id, name, owner, pool, tier) in
            store::customers::search(&s.app.db, &needle, 200).await?
        {
            let p = store::ownership::pool_of(config, pool.as_deref(), None, &tier);
            if !v.scope.sees(config, owner.as_deref(), p) {
                continue;
            }
            items.push_str(&format!(
                r#"<li><a href="/customers/{}">{}</a> · {}</li>"#,
                seg(&id),
                esc(&name),
                esc(owner.as_deref().unwrap_or(p))
            ));
        }
    }
    let body = if items.is_empty() {
        format!("<p>{}</p>", esc(t(lang, "search.none")))
    } else {
        format!(r#"<ul id="results">{items}</ul>"#)
    };
    Ok(page(
        lang,
        Some(&v),
        t(lang, "search.title"),
        &body,
        StatusCode::OK,
    ))
}
