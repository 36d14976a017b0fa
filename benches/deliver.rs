//! Outbound webhook delivery: N events (default 50,000, `KEEPWARM_DELIVER_EVENTS`) over 5,000
//! customers written to the outbox, then delivered by the dispatcher (fan-out, claim with a
//! lease, signed POST, recorded outcome) to a local receiver that answers 200 at once (axum on
//! its own thread). Prints events/s and `BENCH_JSON`.

use std::sync::Arc;
use std::time::Instant;

use keepwarm::config::{Config, CrmConfig, DatabaseConfig, WebhookConfig};
use keepwarm::crm::Dispatcher;
use keepwarm::store::{Db, now_ms, outbox};

fn receiver() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(|_: axum::body::Bytes| async { "ok" }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    port
}

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this as a quick smoke test.
fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("KEEPWARM_DELIVER_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench_mode() { 50_000 } else { 500 });
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "bench-secret").unwrap();
    let port = receiver();
    let config = Config {
        database: DatabaseConfig {
            url: format!("sqlite://{}", dir.path().join("deliver.db").display()),
            ..DatabaseConfig::default()
        },
        crm: CrmConfig {
            webhooks: vec![WebhookConfig {
                name: "bench".into(),
                url: format!("http://127.0.0.1:{port}/hook"),
                secret_env: None,
                secret_file: Some(secret),
                previous_secret_env: None,
                previous_secret_file: None,
                events: vec![],
                timeout: "10s".into(),
            }],
            ..CrmConfig::default()
        },
        ..Config::default()
    };
    let db = Db::open(&config.database).await.unwrap();
    let now = now_ms();
    let mut tx = db.begin_write().await.unwrap();
    let events: Vec<(&'static str, String, serde_json::Value)> = (0..n)
        .map(|i| {
            let customer = format!("C{:05}", i % 5_000);
            let data = serde_json::json!({
                "customer": {"id": customer, "name": "Acme Lighting", "tier": "repeat", "owner": "rep07"},
                "state": "due", "reason": "contact interval", "due_at": "2026-12-01T00:00:00.000Z",
            });
            ("followup.due", customer, data)
        })
        .collect();
    outbox::emit_all(&mut tx, &events, now).await.unwrap();
    tx.commit().await.unwrap();
    let dispatcher = Arc::new(Dispatcher::new(&config).unwrap().unwrap());
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        let k = dispatcher.round(&db).await.unwrap();
        if k == 0 {
            break;
        }
        attempts += k;
    }
    let secs = started.elapsed().as_secs_f64();
    let delivered = outbox::depth(&db)
        .await
        .unwrap()
        .into_iter()
        .find(|(s, _)| s == "delivered")
        .map(|(_, n)| n)
        .unwrap_or(0);
    println!(
        "delivered {delivered} of {n} events in {secs:.2}s: {:.0} events/s ({attempts} attempts, concurrency {})",
        delivered as f64 / secs,
        config.crm.concurrency
    );
    println!(
        "BENCH_JSON {}",
        serde_json::json!({"events": n, "delivered": delivered, "seconds": secs, "events_per_s": delivered as f64 / secs})
    );
}
