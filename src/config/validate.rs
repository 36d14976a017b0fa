//! `Config::validate` and `Config::secret_problems`: every problem of the tree at once, each
//! with its key path.

use super::*;

impl Config {
    /// Every problem in the tree, each with its key path. Empty means valid.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut add = |path: String, message: String| problems.push(Problem { path, message });

        if Backend::of_url(&self.database.url).is_none() {
            add(
                "database.url".into(),
                format!(
                    "unsupported database url {:?}: expected sqlite://PATH or postgres://USER@HOST/DB",
                    redact_url(&self.database.url)
                ),
            );
        }
        if self.database.url.starts_with("sqlite:")
            && self
                .database
                .url
                .trim_start_matches("sqlite:")
                .trim_start_matches("//")
                .is_empty()
        {
            add("database.url".into(), "sqlite url has no file path".into());
        }
        if let Some(h) = &self.cluster.heartbeat {
            match h.is_valid().then(|| h.ms()) {
                None => add(
                    "cluster.heartbeat".into(),
                    format!("{h:?} is not a duration like \"10s\""),
                ),
                Some(ms) if ms * 2 > self.cluster.lease_ms() => add(
                    "cluster.heartbeat".into(),
                    format!(
                        "{h:?} must be at most half of cluster.lease ({:?}), or leases lapse between renewals",
                        self.cluster.lease
                    ),
                ),
                Some(_) => {}
            }
        }
        if let Some(id) = &self.cluster.instance
            && (id.trim().is_empty() || id.len() > 100 || id.contains(char::is_control))
        {
            add(
                "cluster.instance".into(),
                "must be a short printable name".into(),
            );
        }
        if self.database.max_connections < 2 {
            add(
                "database.max_connections".into(),
                "at least 2 (a writer and a lease heartbeat)".into(),
            );
        }
        for (i, d) in self.team.domains.iter().enumerate() {
            if let Err(e) = crate::address::normalize_domain(d) {
                add(format!("team.domains[{i}]"), e.to_string());
            }
        }
        for (i, d) in self.team.freemail_domains.iter().enumerate() {
            if let Err(e) = crate::address::normalize_domain(d) {
                add(format!("team.freemail_domains[{i}]"), e.to_string());
            }
        }
        let mut ids = std::collections::HashSet::new();
        let mut addrs = std::collections::HashMap::new();
        for (i, rep) in self.reps.iter().enumerate() {
            if rep.id.trim().is_empty() {
                add(format!("reps[{i}].id"), "must not be empty".into());
            } else if !ids.insert(rep.id.clone()) {
                add(
                    format!("reps[{i}].id"),
                    format!("duplicate rep id {:?}", rep.id),
                );
            }
            for (j, e) in rep.emails.iter().enumerate() {
                match crate::address::normalize_email(e) {
                    Ok(norm) => {
                        if let Some(other) = addrs.insert(norm.clone(), rep.id.clone())
                            && other != rep.id
                        {
                            add(
                                format!("reps[{i}].emails[{j}]"),
                                format!("{norm} is already an address of rep {other:?}"),
                            );
                        }
                    }
                    Err(err) => add(format!("reps[{i}].emails[{j}]"), err.to_string()),
                }
            }
            for (j, p) in rep.whatsapp.iter().enumerate() {
                if let Err(err) = crate::address::normalize_phone(p, None) {
                    add(format!("reps[{i}].whatsapp[{j}]"), err.to_string());
                }
            }
        }
        if let Some(dir) = &self.rules.dir
            && !dir.is_dir()
        {
            add(
                "rules.dir".into(),
                format!("{} is not a directory", dir.display()),
            );
        }
        if self.ingest.batch_size == 0 || self.ingest.batch_size > 50_000 {
            add(
                "ingest.batch_size".into(),
                "must be between 1 and 50000".into(),
            );
        }
        self.validate_imap(&mut add);
        if let Some(listen) = &self.http.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            add(
                "http.listen".into(),
                format!("{listen:?} is not an address like \"0.0.0.0:8080\""),
            );
        }
        let h = &self.http;
        for (i, p) in h.trusted_proxies.iter().enumerate() {
            if p.parse::<std::net::IpAddr>().is_err() {
                add(
                    format!("http.trusted_proxies[{i}]"),
                    format!("{p:?} is not an IP address"),
                );
            }
        }
        if let Some(board) = &self.board.listen {
            if board.parse::<std::net::SocketAddr>().is_err() {
                add(
                    "board.listen".into(),
                    format!("{board:?} is not an address like \"127.0.0.1:8081\""),
                );
            }
            if h.listen.as_deref() == Some(board) || h.admin().is_some_and(|(a, _)| a == board) {
                add(
                    "board.listen".into(),
                    "must differ from http.listen and http.admin_listen (leave it out to serve the board on http.listen)".into(),
                );
            }
        }
        if let Some((admin, _)) = h.admin() {
            match admin.parse::<std::net::SocketAddr>() {
                Err(_) => add(
                    "http.admin_listen".into(),
                    format!("{admin:?} is not an address like \"127.0.0.1:9477\" (or \"off\")"),
                ),
                Ok(a)
                    if !a.ip().is_loopback()
                        && h.admin_token_env.is_none()
                        && h.admin_token_file.is_none() =>
                {
                    add(
                        "http.admin_listen".into(),
                        format!(
                            "{admin:?} is not a loopback address: set admin_token_env or admin_token_file so metrics and readiness need a token"
                        ),
                    )
                }
                Ok(_) => {}
            }
            if h.listen.as_deref() == Some(admin) {
                add(
                    "http.admin_listen".into(),
                    "must differ from http.listen: admin routes never share the public listener"
                        .into(),
                );
            }
        }
        if !(1..=100_000).contains(&h.max_connections) {
            add(
                "http.max_connections".into(),
                "must be between 1 and 100000".into(),
            );
        }
        for (key, value) in [
            ("http.header_timeout", &h.header_timeout),
            ("http.request_timeout", &h.request_timeout),
        ] {
            if !value.is_valid() {
                add(
                    key.into(),
                    format!("{value:?} is not a duration like \"10s\""),
                );
            }
        }
        for (name, t) in &self.followup.tiers {
            for (key, v) in [
                ("interval_days", t.interval_days),
                ("warn_days", t.warn_days),
                ("release_grace_days", t.release_grace_days),
            ] {
                if v.is_some_and(|d| !(0..=3650).contains(&d)) {
                    add(
                        format!("followup.tiers.{name}.{key}"),
                        "must be between 0 and 3650 days".into(),
                    );
                }
            }
        }
        let f = &self.followup;
        for (key, value) in [
            ("followup.sweep_interval", &f.sweep_interval),
            ("followup.mailbox_stalled_after", &f.mailbox_stalled_after),
            ("followup.recent", &f.recent),
            ("leads.max_age", &self.leads.max_age),
            ("ingest.message_budget", &self.ingest.message_budget),
            ("cluster.lease", &self.cluster.lease),
        ] {
            if !value.is_valid() {
                add(
                    key.into(),
                    format!("{value:?} is not a duration like \"5m\", \"6h\" or \"7d\""),
                );
            }
        }
        for (key, v) in [
            ("followup.first_touch_days", f.first_touch_days),
            (
                "followup.no_reply_follow_up_days",
                f.no_reply_follow_up_days,
            ),
            ("followup.overdue_after_days", f.overdue_after_days),
        ] {
            if !(0..=3650).contains(&v) {
                add(key.into(), "must be between 0 and 3650 days".into());
            }
        }
        if !(1..=24 * 365).contains(&f.reply_within_hours) {
            add(
                "followup.reply_within_hours".into(),
                "must be between 1 and 8760 hours".into(),
            );
        }
        if let Err(calendar) = crate::time::calendar::Calendar::new(
            f.business_days,
            &f.utc_offset,
            &f.holidays,
            &f.weekends,
        ) {
            for (key, message) in calendar {
                add(key, message);
            }
        }
        for (i, rep) in self.reps.iter().enumerate() {
            if rep.weight > 1000 {
                add(
                    format!("reps[{i}].weight"),
                    "must be between 0 and 1000".into(),
                );
            }
        }
        if self.leads.enabled && self.reps.iter().all(|r| r.weight == 0) {
            add(
                "leads.enabled".into(),
                "lead routing needs at least one rep with a weight above 0".into(),
            );
        }
        let crm = &self.crm;
        for (i, r) in crm.retry.iter().enumerate() {
            if !r.is_valid() {
                add(
                    format!("crm.retry[{i}]"),
                    format!("{r:?} is not a duration like \"1m\" or \"2h\""),
                );
            }
        }
        if crm.retry.is_empty() {
            add("crm.retry".into(), "needs at least one step".into());
        }
        if !crm.expire.is_valid() {
            add(
                "crm.expire".into(),
                format!("{:?} is not a duration like \"3d\"", crm.expire),
            );
        }
        if !crm.reject_grace.is_valid() {
            add(
                "crm.reject_grace".into(),
                format!("{:?} is not a duration like \"1h\"", crm.reject_grace),
            );
        }
        if !(1..=1024).contains(&crm.concurrency) {
            add(
                "crm.concurrency".into(),
                "must be between 1 and 1024".into(),
            );
        }
        let mut names = std::collections::HashSet::new();
        for (i, w) in crm.webhooks.iter().enumerate() {
            let key = |k: &str| format!("crm.webhooks[{i}].{k}");
            if w.name.trim().is_empty() || !names.insert(w.name.clone()) {
                add(
                    key("name"),
                    format!("{:?} must be unique and not empty", w.name),
                );
            }
            if let Err(why) = secure_url(&w.url) {
                add(key("url"), why.to_string());
            }
            if w.secret_env.is_none() && w.secret_file.is_none() {
                add(
                    key("secret_env"),
                    "a signing secret is required (secret_env or secret_file)".into(),
                );
            }
            if !w.timeout.is_valid() {
                add(key("timeout"), format!("{:?} is not a duration", w.timeout));
            }
        }
        self.validate_pools(&mut add);
        if let Some(l) = &self.team.language
            && !matches!(l.as_str(), "en" | "zh")
        {
            add(
                "team.language".into(),
                format!("{l:?}: the board speaks \"en\" or \"zh\""),
            );
        }
        for (key, value) in [
            ("retention.failure_raw", &self.retention.failure_raw),
            ("retention.chat_raw", &self.retention.chat_raw),
            ("pool.release_start_after", &self.pool.release_start_after),
            ("pool.reclaim_cooldown", &self.pool.reclaim_cooldown),
            ("pool.release_embargo", &self.pool.release_embargo),
            ("pool.warn_before_release", &self.pool.warn_before_release),
        ] {
            if let Some(v) = value
                && !v.is_valid()
            {
                add(key.into(), format!("{v:?} is not a duration like \"30d\""));
            }
        }
        if self.ingest.max_message_bytes < 1024 {
            add(
                "ingest.max_message_bytes".into(),
                "must be at least 1024".into(),
            );
        }
        problems
    }

    /// The secrets the config names (IMAP passwords, OAuth2 client secrets and refresh tokens):
    /// every one that cannot be read, with its key path. Checked by `check-config` and before
    /// a mailbox is opened, not by every command (importing customers needs no mail password).
    pub fn secret_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut check = |path: String, env: &Option<String>, file: &Option<PathBuf>| {
            if (env.is_some() || file.is_some())
                && let Err(message) = read_secret(env.as_deref(), file.as_deref())
            {
                problems.push(Problem {
                    path,
                    message: message.to_string(),
                });
            }
        };
        let w = &self.whatsapp;
        check(
            "whatsapp.app_secret_env".into(),
            &w.app_secret_env,
            &w.app_secret_file,
        );
        check(
            "whatsapp.verify_token_env".into(),
            &w.verify_token_env,
            &w.verify_token_file,
        );
        check(
            "api.tokens_env".into(),
            &self.api.tokens_env,
            &self.api.tokens_file,
        );
        check(
            "http.admin_token_env".into(),
            &self.http.admin_token_env,
            &self.http.admin_token_file,
        );
        for (i, w) in self.crm.webhooks.iter().enumerate() {
            check(
                format!("crm.webhooks[{i}].secret_env"),
                &w.secret_env,
                &w.secret_file,
            );
            check(
                format!("crm.webhooks[{i}].previous_secret_env"),
                &w.previous_secret_env,
                &w.previous_secret_file,
            );
        }
        for (i, a) in self.imap.iter().enumerate() {
            check(
                format!("imap[{i}].password_env"),
                &a.password_env,
                &a.password_file,
            );
            if let Some(o) = &a.oauth2 {
                check(
                    format!("imap[{i}].oauth2.client_secret_env"),
                    &o.client_secret_env,
                    &o.client_secret_file,
                );
                check(
                    format!("imap[{i}].oauth2.refresh_token_env"),
                    &o.refresh_token_env,
                    &o.refresh_token_file,
                );
            }
        }
        problems
    }

    /// `[[pools]]`, the reps' pool memberships, joining dates and caps.
    fn validate_pools(&self, add: &mut impl FnMut(String, String)) {
        let mut names = std::collections::HashSet::new();
        for (i, p) in self.pools.iter().enumerate() {
            let key = |k: &str| format!("pools[{i}].{k}");
            if p.name.trim().is_empty() || p.name.chars().any(char::is_control) {
                add(key("name"), "must not be empty".into());
            } else if !names.insert(p.name.as_str()) {
                add(key("name"), format!("{:?} names two pools", p.name));
            }
            for (j, c) in p.countries.iter().enumerate() {
                if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
                    add(
                        format!("pools[{i}].countries[{j}]"),
                        format!("{c:?} is not a two-letter ISO 3166 code"),
                    );
                }
            }
            for (j, t) in p.tiers.iter().enumerate() {
                if !self.followup.knows_tier(t) {
                    add(
                        format!("pools[{i}].tiers[{j}]"),
                        format!("{t:?} is not a tier (built-in or [followup.tiers.*])"),
                    );
                }
            }
            for (j, o) in p.owners.iter().enumerate() {
                if !self.reps.is_empty() && self.rep(o).is_none() {
                    add(
                        format!("pools[{i}].owners[{j}]"),
                        format!("no [[reps]] entry has id {o:?}"),
                    );
                }
            }
        }
        if !self.pools.is_empty()
            && !self
                .pools
                .iter()
                .any(|p| p.countries.is_empty() && p.tiers.is_empty() && p.owners.is_empty())
        {
            add(
                "pools".into(),
                "one pool must take the customers no other takes (a pool without countries, tiers or owners)".into(),
            );
        }
        let pool_names: Vec<&str> = if self.pools.is_empty() {
            vec![super::DEFAULT_POOL]
        } else {
            self.pools.iter().map(|p| p.name.as_str()).collect()
        };
        for (i, rep) in self.reps.iter().enumerate() {
            if rep.joined.is_some() && rep.joined_ms().is_none() {
                add(
                    format!("reps[{i}].joined"),
                    format!(
                        "{:?} is not a date like \"2024-03-01\"",
                        rep.joined.as_deref().unwrap_or("")
                    ),
                );
            }
            for (j, p) in rep.pools.iter().flatten().enumerate() {
                if !pool_names.contains(&p.as_str()) {
                    add(
                        format!("reps[{i}].pools[{j}]"),
                        format!("no pool is named {p:?} (pools: {})", pool_names.join(", ")),
                    );
                }
            }
        }
        if self.pool.claim_daily_limit.is_some() && self.followup.claim_daily_limit.is_some() {
            add(
                "followup.claim_daily_limit".into(),
                "set the daily claim limit once, as pool.claim_daily_limit".into(),
            );
        }
    }

    fn validate_imap(&self, add: &mut impl FnMut(String, String)) {
        let mut names = std::collections::HashSet::new();
        for (i, a) in self.imap.iter().enumerate() {
            let at = |k: &str| format!("imap[{i}].{k}");
            if a.name.trim().is_empty() || a.name.contains(['/', ' ']) {
                add(
                    at("name"),
                    "must be a non-empty name without spaces or slashes".into(),
                );
            } else if !names.insert(a.name.clone()) {
                add(at("name"), format!("duplicate account name {:?}", a.name));
            }
            if a.host.trim().is_empty() {
                add(at("host"), "must not be empty".into());
            }
            if a.tls == TlsMode::None && !is_loopback_host(&a.host) {
                add(
                    at("tls"),
                    format!(
                        "\"none\" sends the password in clear text: only allowed for a loopback host, not {:?}",
                        a.host
                    ),
                );
            }
            if let Some(ca) = &a.ca_file
                && !ca.is_file()
            {
                add(at("ca_file"), format!("{} is not a file", ca.display()));
            }
            if a.username.trim().is_empty() {
                add(at("username"), "must not be empty".into());
            }
            let password = a.password_env.is_some() || a.password_file.is_some();
            match (&a.oauth2, password) {
                (Some(_), true) => add(
                    at("oauth2"),
                    "give either a password (password_env / password_file) or oauth2, not both"
                        .into(),
                ),
                (None, false) => add(
                    at("password_env"),
                    "no credentials: set password_env, password_file or [imap.oauth2]".into(),
                ),
                (None, true) => {
                    if a.password_env.is_some() && a.password_file.is_some() {
                        add(
                            at("password_env"),
                            "give either password_env or password_file, not both".into(),
                        );
                    }
                }
                (Some(o), false) => {
                    let at = |k: &str| format!("imap[{i}].oauth2.{k}");
                    match (&o.provider, &o.token_url) {
                        (Some(p), None) if !matches!(p.as_str(), "google" | "microsoft") => add(
                            at("provider"),
                            format!("unknown provider {p:?}: google, microsoft, or give token_url"),
                        ),
                        (None, None) => add(
                            at("token_url"),
                            "set provider (google, microsoft) or token_url".into(),
                        ),
                        _ => {}
                    }
                    if let Some(url) = &o.token_url
                        && let Err(why) = secure_url(url)
                    {
                        add(at("token_url"), why.to_string());
                    }
                    if o.client_id.trim().is_empty() {
                        add(at("client_id"), "must not be empty".into());
                    }
                    if o.client_secret_env.is_some() && o.client_secret_file.is_some() {
                        add(
                            at("client_secret_env"),
                            "give either client_secret_env or client_secret_file, not both".into(),
                        );
                    }
                    match (&o.refresh_token_env, &o.refresh_token_file) {
                        (None, None) => add(
                            at("refresh_token_env"),
                            "set refresh_token_env or refresh_token_file".into(),
                        ),
                        (Some(_), Some(_)) => add(
                            at("refresh_token_env"),
                            "give either refresh_token_env or refresh_token_file, not both".into(),
                        ),
                        _ => {}
                    }
                }
            }
            if let Some(rep) = &a.rep
                && !self.reps.iter().any(|r| &r.id == rep)
            {
                add(at("rep"), format!("no [[reps]] entry has id {rep:?}"));
            }
            if a.backfill != "all" && a.backfill_ms().is_none_or(|ms| ms <= 0) {
                add(
                    at("backfill"),
                    format!("{:?} is not a duration like \"90d\" or \"all\"", a.backfill),
                );
            }
            if !a.poll_interval.is_valid() {
                add(
                    at("poll_interval"),
                    format!("{:?} is not a duration like \"60s\"", a.poll_interval),
                );
            }
            if !a.timeout.is_valid() {
                add(
                    at("timeout"),
                    format!("{:?} is not a duration like \"60s\"", a.timeout),
                );
            }
            for (j, f) in a.folders.iter().enumerate() {
                if f.trim().is_empty() {
                    add(
                        format!("imap[{i}].folders[{j}]"),
                        "must not be empty".into(),
                    );
                }
            }
        }
    }
}
