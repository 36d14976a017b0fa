//! The Rules page: the trait tags in force with what each means and the next step it
//! suggests, the last `rules eval` kept, and for managers the customers carrying each tag, how
//! reps answered its suggestions and a backtest preview of the rules in force.

use std::collections::BTreeMap;

use super::*;

#[derive(Debug, Default, Deserialize)]
pub(super) struct RulesQuery {
    #[serde(default)]
    backtest: Option<String>,
}

/// Changes a backtest preview lists (the counts cover them all).
const PREVIEW_CHANGES: usize = 100;

fn pct(x: f64) -> String {
    format!("{:.2}", x)
}

pub(super) async fn rules(
    State(s): State<Arc<ApiState>>,
    v: Viewer,
    Query(q): Query<RulesQuery>,
) -> Result<Response, ApiError> {
    let (db, config, lang) = (&s.app.db, &s.app.config, v.lang);
    let offset = config.followup.calendar().offset_ms;
    let now = now_ms();
    let set = s.app.rules.current();
    let manages = v.scope.manages();
    let eval = store::rule_evals::last(db).await?;
    let scores: BTreeMap<&str, &store::rule_evals::TagFigures> = eval
        .iter()
        .flat_map(|e| e.tags.iter())
        .map(|t| (t.tag.as_str(), t))
        .collect();
    // Customers carrying each tag now, and reps' answers per tag (from the per-rule answers).
    let (mut live, mut answers) = (BTreeMap::new(), BTreeMap::<String, (i64, i64)>::new());
    if manages {
        for (tag, sug, acc, dis) in store::tags::live_counts(db, now).await? {
            live.insert(tag, (sug, acc, dis));
        }
        for (rule, a, d) in store::customers::feedback_by_rule(db).await? {
            let tag = rule.split('/').next().unwrap_or(&rule).to_string();
            let e = answers.entry(tag).or_default();
            e.0 += a;
            e.1 += d;
        }
    }
    let mut body = format!(
        r#"<p class="facts">{}</p>"#,
        esc(&tn(
            lang,
            "rules.pack",
            &[
                &set.version,
                &set.rules.len().to_string(),
                &config
                    .rules
                    .dir
                    .as_ref()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|| t(lang, "rules.builtin").to_string()),
            ]
        ))
    );
    let mut heads = vec![
        t(lang, "rules.tag"),
        t(lang, "rules.meaning"),
        t(lang, "rules.ttl"),
        t(lang, "board.next_step"),
        t(lang, "rules.f1"),
    ];
    if manages {
        heads.extend([t(lang, "rules.live"), t(lang, "rules.answers")]);
    }
    body.push_str(&table_open("rules", &heads));
    for r in &set.rules {
        // A tag the corpus never labeled nor suggested has no score to show.
        let f1 = scores
            .get(r.tag.as_str())
            .filter(|s| s.tp + s.fp + s.fn_ > 0)
            .map(|s| {
                format!(
                    r#"{} <span class="why">(P {} · R {})</span>"#,
                    pct(s.f1),
                    pct(s.precision),
                    pct(s.recall)
                )
            })
            .unwrap_or_else(|| "-".into());
        let mut row = format!(
            r#"<tr id="rule-{id}"><td><span class="tag">{tag}</span></td><td>{meaning}</td><td>{days}</td><td class="step">{step}</td><td>{f1}</td>"#,
            id = esc(&r.tag),
            tag = esc(&r.tag),
            meaning = esc(r.description_in(lang.code())),
            days = esc(&t1(
                lang,
                "rules.days",
                &(r.ttl_ms / crate::time::DAY_MS).to_string()
            )),
            step = esc(r.next_step(lang.code())),
        );
        if manages {
            let (sug, acc, dis) = live.get(&r.tag).copied().unwrap_or_default();
            let (a, d) = answers.get(&r.tag).copied().unwrap_or_default();
            row.push_str(&format!(
                "<td>{}</td><td>{}</td>",
                esc(&tn(
                    lang,
                    "rules.live_counts",
                    &[&sug.to_string(), &acc.to_string(), &dis.to_string()]
                )),
                if a + d == 0 {
                    "-".to_string()
                } else {
                    esc(&tn(
                        lang,
                        "rules.answer_counts",
                        &[
                            &a.to_string(),
                            &d.to_string(),
                            &format!("{:.0}", 100.0 * a as f64 / (a + d) as f64),
                        ],
                    ))
                }
            ));
        }
        row.push_str("</tr>");
        body.push_str(&row);
    }
    body.push_str("</tbody></table></div>");
    body.push_str(&format!("<h2>{}</h2>", esc(t(lang, "rules.last_eval"))));
    match &eval {
        Some(e) => {
            body.push_str(&format!(
                r#"<p id="last-eval">{}</p>"#,
                esc(&tn(
                    lang,
                    "rules.eval_line",
                    &[
                        &when(e.at, offset),
                        &e.corpus,
                        &e.labeled.to_string(),
                        &pct(e.macro_f1),
                        &pct(e.micro_f1),
                    ]
                ))
            ));
            if e.pack_version != set.version {
                body.push_str(&format!(
                    r#"<p class="error">{}</p>"#,
                    esc(&t1(lang, "rules.eval_other_pack", &e.pack_version))
                ));
            }
        }
        None => body.push_str(&format!(
            r#"<p id="last-eval">{}</p><pre>keepwarm rules eval --maildir DIR --labels labels.jsonl --customers customers.csv</pre>"#,
            esc(t(lang, "rules.no_eval"))
        )),
    }
    if manages {
        body.push_str(&backtest(&s, &v, q.backtest.is_some(), now).await?);
    }
    Ok(page(
        lang,
        Some(&v),
        t(lang, "rules.title"),
        &body,
        StatusCode::OK,
    ))
}

/// The backtest section: a button, and when pressed, what re-tagging the recent messages with
/// the rules in force would change on the customers.
async fn backtest(s: &ApiState, v: &Viewer, run: bool, now: i64) -> Result<String, ApiError> {
    let lang = v.lang;
    let mut out = format!(
        r#"<h2>{h}</h2><p class="why">{why}</p><form method="get" action="/rules"><input type="hidden" name="backtest" value="1"><button type="submit" id="run-backtest">{run_l}</button></form>"#,
        h = esc(t(lang, "rules.backtest")),
        why = esc(t(lang, "rules.backtest_why")),
        run_l = esc(t(lang, "rules.backtest_run")),
    );
    if !run {
        return Ok(out);
    }
    let set = s.app.rules.current();
    let report = crate::eval::backtest(&s.app.db, &set, now)
        .await
        .map_err(|e| match e {
            crate::eval::EvalError::Store(e) => ApiError::from(e),
            other => {
                tracing::warn!(error = %other, "Backtest preview failed.");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the backtest could not run",
                )
            }
        })?;
    out.push_str(&format!(
        r#"<p id="backtest-summary">{}</p>"#,
        esc(&tn(
            lang,
            "rules.backtest_sum",
            &[
                &report.messages.to_string(),
                &report.gained.to_string(),
                &report.lost.to_string(),
                &report.kept.to_string(),
            ]
        ))
    ));
    if report.changes.is_empty() {
        return Ok(out);
    }
    out.push_str(&table_open(
        "backtest",
        &[
            t(lang, "board.customer"),
            t(lang, "rules.change"),
            t(lang, "rules.tag"),
            t(lang, "customer.evidence"),
        ],
    ));
    for c in report.changes.iter().take(PREVIEW_CHANGES) {
        out.push_str(&format!(
            r#"<tr><td><a href="/customers/{id}">{name}</a></td><td>{change}</td><td>{tag}</td><td>{evidence}</td></tr>"#,
            id = seg(&c.customer),
            name = esc(&c.customer),
            change = esc(t(
                lang,
                if c.change == "gain" {
                    "rules.gain"
                } else {
                    "rules.lose"
                }
            )),
            tag = esc(&c.tag),
            evidence = esc(&c.evidence),
        ));
    }
    out.push_str("</tbody></table></div>");
    if report.changes.len() > PREVIEW_CHANGES {
        out.push_str(&format!(
            r#"<p class="why">{}</p>"#,
            esc(&t1(
                lang,
                "rules.more",
                &(report.changes.len() - PREVIEW_CHANGES).to_string()
            ))
        ));
    }
    Ok(out)
}
