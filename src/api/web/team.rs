//! The team page for managers.

use super::*;

/// The team (managers): customers by state per rep (a chart and a table), the month's review
/// figures per rep, mailbox health, unknown senders and leads.
pub(super) async fn team(State(s): State<Arc<ApiState>>, v: Viewer) -> Result<Response, ApiError> {
    if !v.scope.manages() {
        return Ok(not_found(&v));
    }
    let (db, config, lang) = (&s.app.db, &s.app.config, v.lang);
    let now = now_ms();
    let judge = crate::followup::sweep::Judge::load(db, config).await?;
    const STATES: [FuState; 5] = [
        FuState::Released,
        FuState::Overdue,
        FuState::Due,
        FuState::DueSoon,
        FuState::Ok,
    ];
    let mut per_rep: std::collections::BTreeMap<String, [u32; 5]> = Default::default();
    for c in store::followup::all_timers(db).await? {
        let Some(owner) = c.owner.clone() else {
            continue;
        };
        let st = judge.assess(&c, now).state;
        let i = STATES.iter().position(|x| *x == st).unwrap_or(4);
        per_rep.entry(owner).or_default()[i] += 1;
    }
    // The chart: one bar per rep, its customers by state (inline SVG, no script).
    let colors = ["#7a0000", "#c00000", "#d08000", "#e0c040", "#6aa84f"];
    let max = per_rep
        .values()
        .map(|c| c.iter().sum::<u32>())
        .max()
        .unwrap_or(1)
        .max(1);
    let mut svg = format!(
        r#"<svg id="by-state" role="img" aria-label="{label}" width="100%" viewBox="0 0 600 {h}" xmlns="http://www.w3.org/2000/svg">"#,
        label = esc(t(lang, "team.chart")),
        h = 24 * per_rep.len().max(1) + 24,
    );
    for (row, (rep, counts)) in per_rep.iter().enumerate() {
        let y = 24 * row;
        svg.push_str(&format!(
            r#"<text x="0" y="{}" font-size="12">{}</text>"#,
            y + 15,
            esc(rep)
        ));
        let mut x = 120.0;
        for (i, n) in counts.iter().enumerate() {
            let w = 470.0 * f64::from(*n) / f64::from(max);
            if *n > 0 {
                svg.push_str(&format!(
                    r#"<rect x="{x:.1}" y="{}" width="{w:.1}" height="18" fill="{}"><title>{}: {n}</title></rect>"#,
                    y + 2,
                    colors[i],
                    esc(t(lang, &state_key(STATES[i])))
                ));
            }
            x += w;
        }
    }
    svg.push_str("</svg>");
    let month = config.followup.calendar().month_of(now);
    let review = crate::followup::review::review(db, config, &month, now)
        .await
        .map_err(|e| match e {
            crate::followup::review::ReviewError::Store(e) => ApiError::from(e),
            crate::followup::review::ReviewError::BadMonth(_) => {
                ApiError::bad_request("bad-month", "no such month")
            }
        })?;
    let mut rows = String::new();
    for (rep, counts) in &per_rep {
        let r = review
            .owners
            .iter()
            .find(|o| o.owner.as_deref() == Some(rep.as_str()));
        rows.push_str(&format!(
            r#"<tr><td><a href="/board?owner={q}">{rep}</a></td>{cells}<td>{rel}</td><td>{cl}</td><td>{co}</td><td>{stalled}</td></tr>"#,
            q = seg(rep),
            rep = esc(rep),
            cells = counts.iter().map(|n| format!("<td>{n}</td>")).collect::<String>(),
            rel = r.map_or(0, |r| r.released),
            cl = r.map_or(0, |r| r.claimed),
            co = r.map_or(0, |r| r.conflicts),
            stalled = r.map_or(0, |r| r.high_potential_stalled.len()),
        ));
    }
    let heads: String = STATES
        .iter()
        .map(|st| format!("<th>{}</th>", esc(t(lang, &state_key(*st)))))
        .collect();
    let mut mailboxes = String::new();
    for h in store::mailboxes::health(db).await? {
        mailboxes.push_str(&format!(
            "<li>{}/{} · {} · {}</li>",
            esc(&h.account),
            esc(&h.folder),
            esc(&ago(lang, h.last_sync_at, now)),
            esc(h
                .last_error
                .as_deref()
                .filter(|_| h.failures > 0)
                .unwrap_or("ok"))
        ));
    }
    let unknown = store::messages::unknown_senders(db, None, 1000)
        .await?
        .len();
    let leads = store::followup::leads(db, (i64::MAX, ""), 1000)
        .await?
        .len();
    let body = format!(
        r#"{svg}<div class="scroll"><table id="team"><thead><tr><th>{rep_h}</th>{heads}<th>{rel_h}</th><th>{cl_h}</th><th>{co_h}</th><th>{st_h}</th></tr></thead><tbody>{rows}</tbody></table></div>
<h2>{mb_h}</h2><ul>{mailboxes}</ul><p>{unknown_l}: {unknown} · {leads_l}: {leads}</p><p class="why">{month_l} {month}</p>"#,
        rep_h = esc(t(lang, "board.owner")),
        rel_h = esc(t(lang, "team.released")),
        cl_h = esc(t(lang, "team.claimed")),
        co_h = esc(t(lang, "team.conflicts")),
        st_h = esc(t(lang, "team.stalled")),
        mb_h = esc(t(lang, "team.mailboxes")),
        unknown_l = esc(t(lang, "team.unknown")),
        leads_l = esc(t(lang, "team.leads")),
        month_l = esc(t(lang, "team.month")),
    );
    Ok(page(
        lang,
        Some(&v),
        t(lang, "team.title"),
        &body,
        StatusCode::OK,
    ))
}
