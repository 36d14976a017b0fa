//! The team page for managers.

use super::*;

#[derive(Debug, Default, Deserialize)]
pub(super) struct TeamQuery {
    #[serde(default)]
    month: Option<String>,
}

/// Weeks of contacts and months of releases the charts show.
const WEEKS: i64 = 12;
const MONTHS: usize = 12;

/// One column of a chart: its label and its stacked parts (count, colour, series name).
type Column = (String, Vec<(i64, &'static str, String)>);

/// A column chart as inline SVG (no script): stacked bars with their counts as tooltips and
/// each column's total above it.
fn columns_chart(id: &str, label: &str, columns: &[Column]) -> String {
    let max = columns
        .iter()
        .map(|(_, parts)| parts.iter().map(|p| p.0).sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let width = 48 * columns.len().max(1);
    let mut svg = format!(
        r#"<svg id="{id}" role="img" aria-label="{label}" width="100%" viewBox="0 0 {width} 180" xmlns="http://www.w3.org/2000/svg">"#,
        label = esc(label),
    );
    for (i, (name, parts)) in columns.iter().enumerate() {
        let x = 48 * i + 6;
        let mut y = 150.0;
        for (n, color, series) in parts {
            let h = 130.0 * *n as f64 / max as f64;
            if *n > 0 {
                y -= h;
                svg.push_str(&format!(
                    r#"<rect x="{x}" y="{y:.1}" width="36" height="{h:.1}" fill="{color}"><title>{name} · {series}: {n}</title></rect>"#,
                    name = esc(name),
                    series = esc(series),
                ));
            }
        }
        let total: i64 = parts.iter().map(|p| p.0).sum();
        svg.push_str(&format!(
            r##"<text x="{cx}" y="{ty:.1}" font-size="11" text-anchor="middle" fill="#1a1a1a">{total}</text><text x="{cx}" y="170" font-size="10" text-anchor="middle" fill="#1a1a1a">{name}</text>"##,
            cx = x + 18,
            ty = y - 3.0,
            name = esc(name),
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// The team (managers): customers by state per rep (a chart and a table), overdue customers
/// by tier, the month's review per rep (releases, claims, conflicts, stalled high-potential
/// customers, lost deals in the customer's words), contacts per week and releases per month
/// as charts, mailbox health, unknown senders and leads.
pub(super) async fn team(
    State(s): State<Arc<ApiState>>,
    v: Viewer,
    Query(q): Query<TeamQuery>,
) -> Result<Response, ApiError> {
    if !v.scope.manages() {
        return Ok(not_found(&v));
    }
    let (db, config, lang) = (&s.app.db, &s.app.config, v.lang);
    let now = now_ms();
    let calendar = config.followup.calendar();
    let judge = crate::followup::sweep::Judge::load(db, config).await?;
    const STATES: [FuState; 5] = [
        FuState::Released,
        FuState::Overdue,
        FuState::Due,
        FuState::DueSoon,
        FuState::Ok,
    ];
    let mut per_rep: std::collections::BTreeMap<String, [u32; 5]> = Default::default();
    let timers = store::followup::all_timers(db).await?;
    for c in &timers {
        let Some(owner) = c.owner.clone() else {
            continue;
        };
        let st = judge.assess(c, now).state;
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
    svg.push_str(r#"<p class="why">"#);
    for (i, st) in STATES.iter().enumerate() {
        svg.push_str(&format!(
            r#"<span class="key" style="background:{}"></span> {} "#,
            colors[i],
            esc(t(lang, &state_key(*st)))
        ));
    }
    svg.push_str("</p>");
    let this_month = calendar.month_of(now);
    let month = q
        .month
        .filter(|m| {
            m.len() == 7
                && m.is_ascii()
                && m.as_str() <= this_month.as_str()
                && m[..4].parse::<u16>().is_ok()
                && m.as_bytes()[4] == b'-'
                && m[5..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n))
        })
        .unwrap_or(this_month.clone());
    let review = crate::followup::review::review_over(db, config, &month, now, &judge, &timers)
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
            r#"<tr><td><a href="/board?owner={q}">{rep}</a></td>{cells}</tr>"#,
            q = seg(rep),
            rep = esc(rep),
            cells = counts
                .iter()
                .map(|n| format!("<td>{n}</td>"))
                .chain([r.map_or(0, |r| r.overdue_total)].map(|n| format!("<td>{n}</td>")))
                .collect::<String>(),
        ));
    }
    let heads: String = STATES
        .iter()
        .map(|st| format!("<th>{}</th>", esc(t(lang, &state_key(*st)))))
        .collect();
    let mut body = format!(
        r#"{svg}<div class="scroll"><table id="team"><thead><tr><th>{rep_h}</th>{heads}<th>{od_h}</th></tr></thead><tbody>{rows}</tbody></table></div>"#,
        rep_h = esc(t(lang, "board.owner")),
        od_h = esc(t(lang, "team.overdue_at_review")),
    );
    body.push_str(&review_section(lang, &review, &month, &this_month, config));
    body.push_str(&charts(&s, lang, now).await?);
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
    body.push_str(&format!(
        r#"<h2>{mb_h}</h2><ul>{mailboxes}</ul><p>{unknown_l}: {unknown} · {leads_l}: {leads}</p>"#,
        mb_h = esc(t(lang, "team.mailboxes")),
        unknown_l = esc(t(lang, "team.unknown")),
        leads_l = esc(t(lang, "team.leads")),
    ));
    Ok(page(
        lang,
        Some(&v),
        t(lang, "team.title"),
        &body,
        StatusCode::OK,
    ))
}

/// The month's review: a month switch, per rep the releases, claims, assignments, conflicts
/// and overdue customers by tier, then the stalled high-potential customers and lost deals.
fn review_section(
    lang: Lang,
    review: &crate::followup::review::Review,
    month: &str,
    this_month: &str,
    config: &crate::config::Config,
) -> String {
    let calendar = config.followup.calendar();
    let shift = |by: i32| -> Option<String> {
        let (y, m) = month.split_once('-')?;
        let n = y.parse::<i32>().ok()? * 12 + m.parse::<i32>().ok()? - 1 + by;
        let s = format!("{:04}-{:02}", n.div_euclid(12), n.rem_euclid(12) + 1);
        (s.as_str() <= this_month).then_some(s)
    };
    let mut out = format!(
        r#"<h2 id="review-month">{}</h2><p>"#,
        esc(&t1(lang, "team.review", month))
    );
    if let Some(prev) = shift(-1) {
        out.push_str(&format!(
            r#"<a href="/team?month={prev}" id="month-prev">← {prev}</a> "#
        ));
    }
    if let Some(next) = shift(1) {
        out.push_str(&format!(
            r#"<a href="/team?month={next}" id="month-next">{next} →</a>"#
        ));
    }
    out.push_str("</p>");
    let mut tiers: Vec<&String> = review
        .owners
        .iter()
        .flat_map(|o| o.overdue.keys())
        .collect();
    tiers.sort();
    tiers.dedup();
    let tier_heads: Vec<String> = tiers
        .iter()
        .map(|tier| t1(lang, "team.overdue_tier", tier))
        .collect();
    let mut heads = vec![
        t(lang, "board.owner"),
        t(lang, "team.released"),
        t(lang, "team.claimed"),
        t(lang, "team.assigned"),
        t(lang, "team.conflicts"),
    ];
    heads.extend(tier_heads.iter().map(String::as_str));
    out.push_str(&table_open("review", &heads));
    for o in &review.owners {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
            esc(o.owner.as_deref().unwrap_or(t(lang, "team.pool"))),
            o.released,
            o.claimed,
            o.assigned,
            o.conflicts,
            tiers
                .iter()
                .map(|tier| format!("<td>{}</td>", o.overdue.get(*tier).copied().unwrap_or(0)))
                .collect::<String>()
        ));
    }
    out.push_str("</tbody></table></div>");
    let stalled: Vec<String> = review
        .owners
        .iter()
        .flat_map(|o| o.high_potential_stalled.iter().map(move |s| (o, s)))
        .map(|(o, s)| {
            format!(
                r#"<li><a href="/customers/{id}">{name}</a> · {owner} · {days} · {last}{tags}</li>"#,
                id = seg(&s.customer),
                name = esc(&s.name),
                owner = esc(o.owner.as_deref().unwrap_or("-")),
                days = esc(&t1(lang, "team.followed_days", &s.days.to_string())),
                last = esc(&t1(
                    lang,
                    "team.last_contact",
                    s.last_contact_at.as_deref().map_or("-", |d| d.get(..10).unwrap_or(d))
                )),
                tags = if s.tags.is_empty() {
                    String::new()
                } else {
                    format!(" · {}", esc(&s.tags.join(", ")))
                },
            )
        })
        .collect();
    out.push_str(&format!(
        r#"<h3>{}</h3><ul id="stalled">{}</ul>"#,
        esc(t(lang, "team.stalled")),
        if stalled.is_empty() {
            format!("<li>{}</li>", esc(t(lang, "team.none")))
        } else {
            stalled.join("")
        }
    ));
    let lost: Vec<String> = review
        .owners
        .iter()
        .flat_map(|o| o.lost_deals.iter().map(move |d| (o, d)))
        .map(|(o, d)| {
            format!(
                r#"<li><a href="/customers/{id}">{name}</a> · {owner} · {at}<blockquote>{words}</blockquote></li>"#,
                id = seg(&d.customer),
                name = esc(&d.name),
                owner = esc(o.owner.as_deref().unwrap_or("-")),
                at = esc(d.at.get(..10).unwrap_or(&d.at)),
                words = esc(&d.reason),
            )
        })
        .collect();
    out.push_str(&format!(
        r#"<h3>{}</h3><ul id="lost">{}</ul><p class="why">{}</p>"#,
        esc(t(lang, "team.lost")),
        if lost.is_empty() {
            format!("<li>{}</li>", esc(t(lang, "team.none")))
        } else {
            lost.join("")
        },
        esc(&t1(
            lang,
            "team.review_at",
            &when(
                chrono::DateTime::parse_from_rfc3339(&review.at)
                    .map(|d| d.timestamp_millis())
                    .unwrap_or(0),
                calendar.offset_ms
            )
        )),
    ));
    out
}

/// Contacts per week (inbound and outbound, the last `WEEKS` weeks) and releases per month
/// (the last `MONTHS` months), as column charts.
async fn charts(s: &ApiState, lang: Lang, now: i64) -> Result<String, ApiError> {
    let (db, calendar) = (&s.app.db, s.app.config.followup.calendar());
    let this_week = calendar.week_start(now);
    let mut weeks: Vec<Column> = Vec::new();
    for i in (0..WEEKS).rev() {
        // Whole days from the week's Monday keep a week whole across a change of clock.
        let from = calendar.week_start(this_week - i * 7 * crate::time::DAY_MS + 1);
        let to = calendar.week_start(from + 8 * crate::time::DAY_MS);
        let (inbound, outbound) = store::reports::contacts_between(db, from, to).await?;
        weeks.push((
            when(from, calendar.offset_ms)
                .get(5..10)
                .unwrap_or("")
                .to_string(),
            vec![
                (inbound, "#0b57d0", t(lang, "customer.inbound").to_string()),
                (
                    outbound,
                    "#6aa84f",
                    t(lang, "customer.outbound").to_string(),
                ),
            ],
        ));
    }
    let mut months: Vec<Column> = Vec::new();
    let mut start = calendar.month_start(now);
    let mut spans = Vec::new();
    for _ in 0..MONTHS {
        spans.push(start);
        start = calendar.month_start(start - 1);
    }
    for &from in spans.iter().rev() {
        let to = calendar.month_start(from + 32 * crate::time::DAY_MS);
        let n = store::reports::releases_between(db, from, to).await?;
        months.push((
            calendar.month_of(from),
            vec![(n, "#c00000", t(lang, "team.released_n").to_string())],
        ));
    }
    Ok(format!(
        r#"<h2>{}</h2><p class="why"><span class="key in"></span> {} <span class="key out"></span> {}</p>{}<h2>{}</h2>{}"#,
        esc(t(lang, "team.contacts_week")),
        esc(t(lang, "customer.inbound")),
        esc(t(lang, "customer.outbound")),
        columns_chart("contacts-week", t(lang, "team.contacts_week"), &weeks),
        esc(t(lang, "team.releases_month")),
        columns_chart("releases-month", t(lang, "team.releases_month"), &months),
    ))
}
