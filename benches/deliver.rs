//! Outbound webhook delivery: N events (default 50,000, `KEEPWARM_DELIVER_EVENTS`) over 5,000
//! customers written to the outbox, then delivered by the dispatcher (fan-out, claim with a
//! lease, signed POST, recorded outcome) to a local receiver that answers 200 at once (axum on
//! its own thread). Prints events/s and `BENCH_JSON`.

use std::sync::Arc;
use std::time::Instant;

use keepwarm::config::{Config, CrmConfig, DatabaseConfig, WebhookConfig};
use keepwarm::crm::Dispatcher;
use keepwarm::events::{At, CustomerRef, Due, Event};
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
    let events: Vec<Event> = (0..n)
        .map(|i| {
            Event::FollowupDue(Due {
                customer: CustomerRef {
                    id: format!("C{:05}", i % 5_000),
                    name: "Acme Lighting".into(),
                    tier: "repeat".into(),
                    owner: Some("rep07".into()),
                },
                state: "due".into(),
                reason: "contact interval".into(),
                due_at: At(1_764_547_200_000),
                last_inbound_at: None,
                last_outbound_at: None,
            })
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
