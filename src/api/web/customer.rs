//! A customer's page: owner, stage and protection, identities, the corporate group's other
//! customers, traits with accept / dismiss, mail and chat, owner and pool history.

use super::*;

/// One customer: who owns it, its traits with evidence and next step (accept / dismiss), its
/// mail and chat, its history.
pub(super) async fn customer(
    State(s): State<Arc<ApiState>>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, ApiError> {
    let note = q
        .done
        .as_deref()
        .filter(|d| DONE.contains(d))
        .map(|d| notice(t(v.lang, &format!("customer.done_{d}"))))
        .unwrap_or_default();
    customer_page(&s, &v, &id, &note, StatusCode::OK).await
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// Messages a customer's page shows (the newest).
const TIMELINE: i64 = 50;

/// What a change on the page can have done (`?done=`).
const DONE: [&str; 6] = [
    "stage",
    "protected",
    "unprotected",
    "released",
    "assigned",
    "claimed",
];

/// The page of customer `id`, with `note` (what a change did or why it was refused) on top.
async fn customer_page(
    s: &ApiState,
    v: &Viewer,
    id: &str,
    note: &str,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let id = id.to_string();
    let (db, config, lang) = (&s.app.db, &s.app.config, v.lang);
    let Some(h) = store::ownership::peek(db, &id).await? else {
        return Ok(not_found(v));
    };
    if !v
        .scope
        .sees(config, h.owner.as_deref(), h.pool_name(config))
    {
        return Ok(not_found(v));
    }
    let Some(d) = store::customers::get_customer(db, &id).await? else {
        return Ok(not_found(v));
    };
    let offset = config.followup.calendar().offset_ms;
    let can_change = v.scope.changes(h.owner.as_deref());
    let mut body = note.to_string();
    let owner = match &h.owner {
        Some(o) => format!("{}: {}", esc(t(lang, "board.owner")), esc(o)),
        None => esc(&t1(lang, "customer.pool", h.pool_name(config))),
    };
    body.push_str(&format!(
        r#"<p class="facts">{owner} · {tier} · {stage_l}: {stage}{protected}</p>"#,
        tier = esc(&h.tier),
        stage_l = esc(t(lang, "customer.stage")),
        stage = esc(t(lang, &format!("stage.{}", h.stage))),
        protected = if h.is_protected() {
            format!(" · {}", esc(t(lang, "customer.protected")))
        } else {
            String::new()
        },
    ));
    body.push_str(&actions(s, v, &h));
    let ids: Vec<String> = d
        .emails
        .iter()
        .chain(&d.domains)
        .chain(&d.phones)
        .map(|x| esc(x))
        .collect();
    body.push_str(&format!(
        "<h2>{}</h2><p>{}</p>",
        esc(t(lang, "customer.identities")),
        ids.join(" · ")
    ));
    if let Some(group) = &d.customer.group {
        // The group's other customers: their names and owners (so nobody courts a sister
        // company unknowingly); a link only to those the reader may open.
        let members = store::ownership::group_members(db, group, &h.id).await?;
        body.push_str(&format!(
            r#"<h2>{}</h2><ul id="group">"#,
            esc(&t1(lang, "customer.group", group))
        ));
        if members.is_empty() {
            body.push_str(&format!(
                "<li>{}</li>",
                esc(t(lang, "customer.group_alone"))
            ));
        }
        for m in &members {
            let name = if v
                .scope
                .sees(config, m.owner.as_deref(), m.pool_name(config))
            {
                format!(
                    r#"<a href="/customers/{}">{}</a>"#,
                    seg(&m.id),
                    esc(&m.name)
                )
            } else {
                esc(&m.name)
            };
            body.push_str(&format!(
                "<li>{name} · {}</li>",
                esc(&m.owner.as_deref().map_or_else(
                    || t1(lang, "customer.pool", m.pool_name(config)),
                    |o| format!("{}: {o}", t(lang, "board.owner"))
                ))
            ));
        }
        body.push_str("</ul>");
    }
    body.push_str(&format!("<h2>{}</h2>", esc(t(lang, "customer.tags"))));
    if d.tags.is_empty() {
        body.push_str(&format!("<p>{}</p>", esc(t(lang, "customer.no_tags"))));
    }
    body.push_str(r#"<ul class="tags">"#);
    for tag in &d.tags {
        let buttons = if can_change {
            format!(
                r#"<form method="post" action="/customers/{id}/tags/{tag_seg}"><input type="hidden" name="csrf" value="{csrf}"><button name="state" value="accepted" id="accept-{tag}">{acc}</button> <button name="state" value="dismissed" id="dismiss-{tag}">{dis}</button></form>"#,
                id = seg(&h.id),
                tag_seg = seg(&tag.tag),
                tag = esc(&tag.tag),
                csrf = esc(&v.csrf),
                acc = esc(t(lang, "customer.accept")),
                dis = esc(t(lang, "customer.dismiss")),
            )
        } else {
            String::new()
        };
        body.push_str(&format!(
            r#"<li class="tag-{state}"><strong>{tag}</strong> {accepted}<blockquote>{evidence}</blockquote><p class="step">{step}</p>{buttons}</li>"#,
            state = esc(&tag.state),
            tag = esc(&tag.tag),
            accepted = if tag.state == "accepted" {
                format!("({})", esc(t(lang, "customer.accepted")))
            } else {
                String::new()
            },
            evidence = esc(&tag.evidence),
            step = esc(&next_step(s, &tag.tag, lang)),
        ));
    }
    body.push_str("</ul>");
    body.push_str(&format!(
        r#"<h2>{}</h2><p class="why">{}</p>"#,
        esc(t(lang, "customer.timeline")),
        esc(t(lang, "customer.quoted"))
    ));
    let messages = store::messages::timeline(db, &id, TIMELINE).await?;
    if messages.is_empty() {
        body.push_str(&format!("<p>{}</p>", esc(t(lang, "customer.no_messages"))));
    }
    body.push_str(r#"<ol class="timeline">"#);
    for m in &messages {
        let dir = if m.direction == "inbound" {
            "customer.inbound"
        } else {
            "customer.outbound"
        };
        body.push_str(&format!(
            r#"<li class="{direction}"><div class="meta">{at} · {channel} · {dir}{rep}</div><div class="subject">{subject}</div><div class="words">{words}</div>{quoted}</li>"#,
            quoted = m
                .quoted
                .as_deref()
                .map(|q| format!(
                    r#"<details><summary>{}</summary><div class="words">{}</div></details>"#,
                    esc(t(lang, "customer.show_whole")),
                    esc(q)
                ))
                .unwrap_or_default(),
            direction = esc(&m.direction),
            at = esc(&when(m.sent_at, offset)),
            channel = esc(&m.channel),
            dir = esc(t(lang, dir)),
            rep = m.rep.as_deref().map(|r| format!(" · {}", esc(r))).unwrap_or_default(),
            subject = esc(&m.subject),
            words = esc(&m.body),
        ));
    }
    body.push_str("</ol>");
    body.push_str(&format!(
        "<h2>{}</h2><ul class=\"history\">",
        esc(t(lang, "customer.history"))
    ));
    for p in store::followup::pool_history(db, Some(&id), 50).await? {
        body.push_str(&format!(
            "<li>{} · {} · {} · {}</li>",
            esc(&when(p.at, offset)),
            esc(&p.action),
            esc(p.rep.as_deref().unwrap_or("-")),
            esc(&p.reason)
        ));
    }
    for c in store::privacy::changes(db, &id).await? {
        body.push_str(&format!(
            "<li>{} · {}: {} → {} · {}</li>",
            esc(&when(c.at, offset)),
            esc(&c.field),
            esc(c.old_value.as_deref().unwrap_or("-")),
            esc(c.new_value.as_deref().unwrap_or("-")),
            esc(&c.actor)
        ));
    }
    body.push_str("</ul>");
    Ok(page(lang, Some(v), &d.customer.name, &body, status))
}

/// The changes the reader may make: the stage, protection and release (its owner or a
/// manager), assignment to a rep (a manager). Each is one form with the session's token.
fn actions(s: &ApiState, v: &Viewer, h: &store::ownership::Holding) -> String {
    let (config, lang) = (&s.app.config, v.lang);
    if !v.scope.changes(h.owner.as_deref()) {
        return String::new();
    }
    let form = |inner: String| {
        format!(
            r#"<form method="post" action="/customers/{id}/act" class="act"><input type="hidden" name="csrf" value="{csrf}">{inner}</form>"#,
            id = seg(&h.id),
            csrf = esc(&v.csrf),
        )
    };
    let mut out = String::from(r#"<div class="actions">"#);
    let stages: String = ["potential", "target", "signed", "dormant"]
        .iter()
        .map(|st| {
            format!(
                r#"<option value="{st}"{sel}>{name}</option>"#,
                sel = if *st == h.stage { " selected" } else { "" },
                name = esc(t(lang, &format!("stage.{st}"))),
            )
        })
        .collect();
    out.push_str(&form(format!(
        r#"<label for="stage">{l}</label> <select id="stage" name="stage">{stages}</select> <button name="action" value="stage" id="set-stage">{b}</button>"#,
        l = esc(t(lang, "customer.stage")),
        b = esc(t(lang, "customer.save")),
    )));
    if h.owner.is_some() && h.stage != "signed" {
        let (action, label) = if h.protected {
            ("unprotect", "customer.unprotect")
        } else {
            ("protect", "customer.protect")
        };
        out.push_str(&form(format!(
            r#"<button name="action" value="{action}" id="{action}">{}</button>"#,
            esc(t(lang, label))
        )));
    }
    if h.owner.is_some() {
        out.push_str(&form(format!(
            r#"<label for="release-reason">{l}</label> <input id="release-reason" name="reason" required maxlength="200"> <button name="action" value="release" id="release">{b}</button>"#,
            l = esc(t(lang, "customer.release_reason")),
            b = esc(t(lang, "customer.release")),
        )));
    }
    if v.scope.manages() && !config.reps.is_empty() {
        let reps: String = config
            .reps
            .iter()
            .filter(|r| h.owner.as_deref() != Some(r.id.as_str()))
            .map(|r| format!(r#"<option value="{0}">{0}</option>"#, esc(&r.id)))
            .collect();
        out.push_str(&form(format!(
            r#"<label for="assign-rep">{l}</label> <select id="assign-rep" name="rep">{reps}</select> <button name="action" value="assign" id="assign">{b}</button>"#,
            l = esc(t(lang, "customer.assign_to")),
            b = esc(t(lang, "customer.assign")),
        )));
    }
    out.push_str("</div>");
    out
}

#[derive(Debug, Deserialize)]
pub(super) struct ActIn {
    csrf: String,
    action: String,
    #[serde(default)]
    stage: String,
    #[serde(default)]
    rep: String,
    #[serde(default)]
    reason: String,
}

/// A change from the customer page, through the same rules as the CLI and the API; a refusal
/// shows on the page in words.
pub(super) async fn act_on(
    State(s): State<Arc<ApiState>>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<ActIn>,
) -> Result<Response, ApiError> {
    if !csrf_ok(&v, &f.csrf) {
        return Ok(forbidden(&v));
    }
    let config = &s.app.config;
    let Some(h) = store::ownership::peek(&s.app.db, &id).await? else {
        return Ok(not_found(&v));
    };
    if !v.scope.changes(h.owner.as_deref()) {
        return Ok(not_found(&v));
    }
    // A rep acts as itself; a manager as the team.
    let by = if v.scope.manages() {
        None
    } else {
        v.scope.rep.clone()
    };
    let reason = f.reason.trim().chars().take(200).collect::<String>();
    let ask = match f.action.as_str() {
        "stage" => Ask::Stage { stage: f.stage },
        "protect" | "unprotect" => Ask::Protect {
            by,
            on: f.action == "protect",
        },
        "release" if !reason.is_empty() => Ask::Release { by, reason },
        "assign" if v.scope.manages() => Ask::Assign {
            rep: f.rep,
            force: false,
            reason: None,
        },
        _ => {
            let note = alert(t(v.lang, "customer.incomplete"));
            return customer_page(&s, &v, &id, &note, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    match act(&s.app.db, config, &id, &ask, &v.scope.who, now_ms()).await {
        Ok(Ok(done)) => Ok(
            Redirect::to(&format!("/customers/{}?done={}", seg(&id), done.action)).into_response(),
        ),
        Ok(Err(refusal)) => {
            let note = refused(v.lang, "customer.refused", refusal.reason);
            customer_page(&s, &v, &id, &note, StatusCode::CONFLICT).await
        }
        Err(crate::followup::changes::AskError::Store(e)) => Err(e.into()),
        Err(_) => {
            let note = alert(t(v.lang, "customer.incomplete"));
            customer_page(&s, &v, &id, &note, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct TagIn {
    csrf: String,
    state: String,
}

pub(super) async fn tag_feedback(
    State(s): State<Arc<ApiState>>,
    v: Viewer,
    Path((id, tag)): Path<(String, String)>,
    Form(f): Form<TagIn>,
) -> Result<Response, ApiError> {
    if !csrf_ok(&v, &f.csrf) {
        return Ok(forbidden(&v));
    }
    let db = &s.app.db;
    let Some(h) = store::ownership::peek(db, &id).await? else {
        return Ok(not_found(&v));
    };
    if !v.scope.changes(h.owner.as_deref()) || !matches!(f.state.as_str(), "accepted" | "dismissed")
    {
        return Ok(not_found(&v));
    }
    store::customers::set_tag_state(db, &id, &tag, &f.state, now_ms()).await?;
    Ok(Redirect::to(&format!("/customers/{}", seg(&id))).into_response())
}
