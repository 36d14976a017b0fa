//! The follow-up sweep over a large directory in SQLite: N customers (default 1,000,000, or
//! `KEEPWARM_SWEEP_CUSTOMERS`) over 50 reps and every tier, their last contact spread over each
//! tier's interval and a bit past it. Times:
//!   - the first sweep, which judges and writes every customer;
//!   - a sweep one interval later (5 minutes: the daemon's steady state);
//!   - a sweep one day later (the customers whose boundary passed in a day);
//!   - a policy change (every customer judged again, only changed verdicts written).
//!
//! The team runs the ownership rules: three pools by country, a warning three days before a
//! release, holding caps, and 5% of the customers signed and 5% protected (never released).
//!
//! Prints one line per figure and `BENCH_JSON`.

use std::time::Instant;

use keepwarm::config::{Config, DatabaseConfig};
use keepwarm::followup::sweep::sweep;
use keepwarm::store::{Db, now_ms};

const DAY: i64 = 86_400_000;

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this as a quick smoke test.
fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let n: usize = std::env::var("KEEPWARM_SWEEP_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench_mode() { 1_000_000 } else { 2_000 });
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("sweep-{n}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut config = Config::from_toml(
        "[pool]\nwarn_before_release = \"3d\"\nmax_customers = 100000\nmax_protected = 2000\n\
         [[pools]]\nname = \"gulf\"\ncountries = [\"SA\"]\n\
         [[pools]]\nname = \"americas\"\ncountries = [\"US\", \"BR\"]\n\
         [[pools]]\nname = \"rest\"\n",
        std::path::Path::new("bench.toml"),
    )
    .unwrap();
    config.database = DatabaseConfig {
        url: format!("sqlite://{}", path.display()),
        ..DatabaseConfig::default()
    };
    let db = Db::open(&config.database).await.unwrap();
    let now = now_ms();
    let t = Instant::now();
    fill(&db, n, now).await;
    println!("filled {n} customers in {:.1}s", t.elapsed().as_secs_f64());

    let first = sweep(&db, &config, now, now).await.unwrap();
    println!(
        "first sweep (every customer judged): {:.2}s, judged {}, written {}, released {}",
        first.elapsed_secs, first.judged, first.written, first.released
    );
    let interval = sweep(&db, &config, now + 5 * 60_000, now).await.unwrap();
    println!(
        "sweep 5 minutes later: {:.3}s, judged {}",
        interval.elapsed_secs, interval.judged
    );
    let daily = sweep(&db, &config, now + DAY, now).await.unwrap();
    println!(
        "sweep 1 day later: {:.3}s, judged {}, due {}, overdue {}, released {}, warned {}",
        daily.elapsed_secs, daily.judged, daily.due, daily.overdue, daily.released, daily.warned
    );
    // A policy change (low-potential customers warned 21 days ahead instead of 14): everyone
    // is judged again, only the verdicts that differ are written.
    let mut changed = config.clone();
    changed.followup.tiers.insert(
        "low-potential".into(),
        keepwarm::config::TierOverride {
            warn_days: Some(21),
            ..Default::default()
        },
    );
    let again = sweep(&db, &changed, now + DAY, now).await.unwrap();
    println!(
        "policy change, every customer judged again: {:.2}s, judged {}, written {}, events {}",
        again.elapsed_secs,
        again.judged,
        again.written,
        again.due + again.overdue + again.released
    );
    println!(
        "BENCH_JSON {}",
        serde_json::json!({
            "customers": n,
            "first_sweep_s": first.elapsed_secs,
            "first_sweep_events": first.due + first.overdue + first.released,
            "interval_sweep_s": interval.elapsed_secs,
            "interval_sweep_judged": interval.judged,
            "daily_sweep_s": daily.elapsed_secs,
            "daily_sweep_judged": daily.judged,
            "policy_change_s": again.elapsed_secs,
            "policy_change_written": again.written,
        })
    );
    db.close().await;
}

/// Customers with contact spread over their tier's interval and up to 30% past it.
async fn fill(db: &Db, n: usize, now: i64) {
    let tiers: [(&str, i64, u32); 6] = [
        ("vip", 30, 5),
        ("repeat", 45, 20),
        ("one-time", 45, 25),
        ("high-potential", 7, 10),
        ("low-potential", 90, 30),
        ("new", 3, 10),
    ];
    let total: u32 = tiers.iter().map(|t| t.2).sum();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut tx = db.begin_write().await.unwrap();
    const ROWS: usize = 500;
    let mut i = 0;
    while i < n {
        let rows = ROWS.min(n - i);
        let mut sql = String::from(
            "INSERT INTO customer (id, name, name_key, tier, owner, country, last_inbound_at,
             last_outbound_at, last_contact_at, created_at, updated_at, stage, protected) VALUES ",
        );
        sql.push_str(&vec!["(?,?,?,?,?,?,?,?,?,?,?,?,?)"; rows].join(","));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for _ in 0..rows {
            let mut pick = rng.u32(0..total);
            let (tier, days, _) = *tiers
                .iter()
                .find(|t| {
                    if pick < t.2 {
                        true
                    } else {
                        pick -= t.2;
                        false
                    }
                })
                .unwrap();
            let span = days * DAY * 13 / 10;
            let outbound = now - rng.i64(0..span);
            let inbound = (rng.u8(..) < 180).then(|| outbound - rng.i64(-3 * DAY..10 * DAY));
            let id = format!("C{i:07}");
            q = q
                .bind(id.clone())
                .bind(id.clone())
                .bind(id)
                .bind(tier)
                .bind(format!("rep{:02}", rng.u32(0..50)))
                .bind(["CN", "US", "DE", "SA", "BR"][rng.usize(0..5)])
                .bind(inbound)
                .bind(outbound)
                .bind(inbound.map_or(outbound, |i| i.max(outbound)))
                .bind(now - 400 * DAY)
                .bind(now);
            let roll = rng.u8(0..20);
            q = q
                .bind(if roll == 0 { "signed" } else { "potential" })
                .bind(i64::from(roll == 1));
            i += 1;
        }
        q.execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}
