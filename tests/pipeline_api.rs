//! The library entry point used by every source: an `Ingestor` given a batch of inputs.

use std::sync::Arc;

use keepwarm::config::Config;
use keepwarm::message::{Inbound, Origin, Payload, Pending};
use keepwarm::store::{self, Db};
use keepwarm::{directory, pipeline};

mod common;

const CONFIG: &str = r#"
[database]
url = "sqlite://DBPATH"
[team]
domains = ["sinoexport.example"]
[[reps]]
id = "amy"
emails = ["amy@sinoexport.example", "amy.private@gmail.com"]
"#;

const CUSTOMERS: &str = "id,name,group,tier,owner,emails,domains,phones,country\n\
C1,Brightway Lighting Inc.,,vip,amy,mike@brightwaylighting.example,brightwaylighting.example,,US\n\
C2,Vanguard US,G1,vip,amy,,vanguard.example,,US\n\
C3,Vanguard MX,G1,new,amy,,vanguard.example.mx,,MX\n";

fn inbound(key: &str, received_at: i64, raw: &str) -> Inbound {
    Inbound {
        origin: Origin {
            source_key: format!("test:{key}"),
            mailbox: "test".into(),
            rep: None,
            received_at,
            verify_sender: false,
        },
        payload: Payload::Email(raw.as_bytes().to_vec()),
    }
}

/// A fresh database (SQLite in a temporary directory, or its own PostgreSQL database) and the
/// config that points at it.
async fn workspace() -> (tempfile::TempDir, Config, Db) {
    let dir = tempfile::tempdir().unwrap();
    let text = CONFIG.replace("DBPATH", dir.path().join("kw.db").to_str().unwrap());
    let mut config = Config::from_toml(&text, std::path::Path::new("test.toml")).unwrap();
    config.database.url = common::db::TestDb::fresh().url(dir.path());
    let db = Db::open(&config.database).await.unwrap();
    (dir, config, db)
}

/// An ingestor over `db` with the default rules.
async fn ingestor(db: &Db, config: Config) -> pipeline::Ingestor {
    pipeline::Ingestor::load(
        db,
        Arc::new(keepwarm::rules::load(None).unwrap()),
        Arc::new(config),
    )
    .await
    .unwrap()
}

/// A hook that fails its transaction (`true`) or lets it commit.
struct Failing(bool);

impl store::batch::InTransaction for Failing {
    fn run<'t>(
        &'t self,
        _: &'t mut store::Tx,
    ) -> futures::future::BoxFuture<'t, Result<(), store::StoreError>> {
        let fail = self.0;
        Box::pin(async move {
            if fail {
                Err(store::StoreError::Query {
                    context: "fail on purpose",
                    source: sqlx::Error::PoolClosed,
                })
            } else {
                Ok(())
            }
        })
    }
}

#[tokio::test]
async fn a_batch_is_matched_classified_and_committed_once() {
    let (_dir, mut config, db) = workspace().await;
    let parsed = directory::import::parse_csv(CUSTOMERS.as_bytes(), &config);
    let summary =
        store::customers::apply_import(&db, parsed, &store::customers::Actor::cli("import", None))
            .await
            .unwrap();
    assert_eq!(summary.added, 3);
    config.ingest.max_message_bytes = 1 << 20;
    let ctx = Arc::new(pipeline::Context::new(
        store::customers::load_directory(&db, &config)
            .await
            .unwrap(),
        Arc::new(keepwarm::rules::load(None).unwrap()),
        Arc::new(config.clone()),
    ));

    let batch = vec![
        // A Sent copy: the customer is only in Bcc; sent from the rep's private address.
        inbound(
            "sent-1",
            1_781_000_000_000,
            "From: Amy <amy.private@gmail.com>\nTo: amy@sinoexport.example\nBcc: mike@brightwaylighting.example\n\
             Subject: Offer\nMessage-ID: <offer-1@sinoexport.example>\nDate: Tue, 09 Jun 2026 10:00:00 +0000\n\nOur offer.\n",
        ),
        // Phishing from a lookalike of the customer's domain.
        inbound(
            "phish-1",
            1_781_000_000_000,
            "From: Mike <mike@brightway-lighting.example>\nTo: amy@sinoexport.example\nSubject: Payment\n\
             Message-ID: <phish-1@brightway-lighting.example>\nDate: Tue, 09 Jun 2026 11:00:00 +0000\n\nPay to this account.\n",
        ),
        // A subsidiary's own domain names the subsidiary, not its sibling.
        inbound(
            "mx-1",
            1_781_000_000_000,
            "From: Compras <compras@vanguard.example.mx>\nTo: amy@sinoexport.example\nSubject: Pedido\n\
             Message-ID: <mx-1@vanguard.example.mx>\nDate: Tue, 09 Jun 2026 12:00:00 +0000\n\nConfirmamos.\n",
        ),
        // The same Sent copy again inside the batch (another mailbox): one message.
        Inbound {
            origin: Origin {
                source_key: "test:sent-1-again".into(),
                mailbox: "other".into(),
                rep: Some("amy".into()),
                received_at: 1_781_000_000_000,
                verify_sender: false,
            },
            payload: Payload::Email(
                b"From: Amy <amy.private@gmail.com>\nTo: amy@sinoexport.example\nBcc: mike@brightwaylighting.example\n\
                  Subject: Offer\nMessage-ID: <offer-1@sinoexport.example>\nDate: Tue, 09 Jun 2026 10:00:00 +0000\n\nOur offer.\n"
                    .to_vec(),
            ),
        },
        inbound("bad-1", 1_781_000_000_000, ""),
    ];
    let ingestor = pipeline::Ingestor::new(&db, ctx);
    let batch_of = |inputs: &[Inbound]| pipeline::Batch {
        inputs: inputs.iter().cloned().map(Pending::ready).collect(),
        hook: (),
    };
    let report = ingestor.ingest(batch_of(&batch)).await.unwrap();
    assert_eq!(
        (
            report.ingested,
            report.sightings,
            report.failed,
            report.duplicates
        ),
        (3, 1, 1, 0)
    );
    let again = ingestor.ingest(batch_of(&batch)).await.unwrap();
    assert_eq!((again.ingested, again.duplicates), (0, 5));

    let rows = store::messages::page(&db, 0, 100, None, i64::MIN)
        .await
        .unwrap();
    let by_key = |k: &str| rows.iter().find(|r| r.key == k).unwrap();
    let offer = by_key("offer-1@sinoexport.example");
    assert_eq!(
        (offer.direction.as_str(), offer.customer.as_deref()),
        ("outbound", Some("C1"))
    );
    assert_eq!(offer.rep.as_deref(), Some("amy"));
    let phish = by_key("phish-1@brightway-lighting.example");
    assert_eq!(phish.class, keepwarm::normalize::Class::Spam);
    assert_eq!(
        (phish.customer.as_deref(), phish.counts_as_contact),
        (None, false)
    );
    let mx = by_key("mx-1@vanguard.example.mx");
    assert_eq!(
        (mx.customer.as_deref(), mx.group.as_deref()),
        (Some("C3"), Some("G1"))
    );

    let c1 = store::customers::get_customer(&db, "C1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c1.customer.last_outbound_at, Some(1_780_999_200_000));
    assert_eq!(
        c1.customer.last_inbound_at, None,
        "the phishing mail is not contact"
    );
    let failures = store::messages::failures(&db).await.unwrap();
    assert_eq!(failures[0].reason, "empty message");
}

/// Writers that commit at the same time (two instances on PostgreSQL) each add their sightings
/// of a customer's tag: none is lost, whether the tag is new to both or already stored.
#[tokio::test]
async fn concurrent_writers_lose_no_sighting_of_a_tag() {
    let (_dir, config, db) = workspace().await;
    let parsed = directory::import::parse_csv(CUSTOMERS.as_bytes(), &config);
    store::customers::apply_import(&db, parsed, &store::customers::Actor::cli("import", None))
        .await
        .unwrap();
    let rules = Arc::new(keepwarm::rules::load(None).unwrap());
    let config = Arc::new(config);
    let writer = || async {
        pipeline::Ingestor::load(&db, Arc::clone(&rules), Arc::clone(&config))
            .await
            .unwrap()
    };
    let (a, b) = (writer().await, writer().await);
    let now = store::now_ms();
    let mail = |n: usize| {
        let sent = chrono::DateTime::from_timestamp_millis(now - 3_600_000 + n as i64 * 1000)
            .unwrap()
            .to_rfc2822();
        let raw = format!(
            "From: Mike <mike@brightwaylighting.example>\nTo: amy@sinoexport.example\n\
             Subject: Quote {n}\nMessage-ID: <q{n}@brightwaylighting.example>\nDate: {sent}\n\n\
             Your price is too high for our market. We need a better discount before we order.\n"
        );
        pipeline::Batch {
            inputs: vec![Pending::ready(inbound(&format!("q{n}"), now, &raw))],
            hook: (),
        }
    };
    // A keeps its transaction open a while after writing its tags; B writes the same tag
    // meanwhile: its sightings must add to A's, not overwrite them with what B read first.
    struct Linger;
    impl store::batch::InTransaction for Linger {
        fn run<'t>(
            &'t self,
            _: &'t mut store::Tx,
        ) -> futures::future::BoxFuture<'t, Result<(), store::StoreError>> {
            Box::pin(async {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                Ok(())
            })
        }
    }
    let lingering = |n: usize| {
        let b = mail(n);
        pipeline::Batch {
            inputs: b.inputs,
            hook: Linger,
        }
    };
    let rounds = 3;
    for round in 0..rounds {
        let later = async {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            b.ingest(mail(2 * round + 1)).await
        };
        let (ra, rb) = tokio::join!(a.ingest(lingering(2 * round)), later);
        assert_eq!((ra.unwrap().ingested, rb.unwrap().ingested), (1, 1));
    }
    let tags = store::customers::customer_tags(&db, "C1", store::now_ms())
        .await
        .unwrap();
    let price = tags
        .iter()
        .find(|t| t.tag == "price-sensitive")
        .unwrap_or_else(|| panic!("no price-sensitive tag in {tags:?}"));
    assert_eq!(price.evidence_count, 2 * rounds as i64, "{price:?}");
    assert_eq!(
        price.message_key,
        format!("q{}@brightwaylighting.example", 2 * rounds - 1)
    );
}

/// A batch whose transaction does not commit (its hook fails) is not counted in the metrics;
/// the same batch committed later is.
#[tokio::test]
async fn metrics_count_only_what_was_committed() {
    let (_dir, config, db) = workspace().await;
    let ingestor = ingestor(&db, config).await;
    let mail = || {
        vec![Pending::ready(Inbound {
            origin: Origin {
                source_key: "uncommitted:1".into(),
                mailbox: "test".into(),
                rep: None,
                received_at: 1_781_000_000_000,
                verify_sender: false,
            },
            payload: Payload::Email(
                b"From: a@b.example\nTo: amy@sinoexport.example\nSubject: hi\nMessage-ID: <u1@b.example>\n\
                  Date: Tue, 09 Jun 2026 10:00:00 +0000\n\nHello, the price is too high.\n"
                    .to_vec(),
            ),
        })]
    };
    let line = r#"keepwarm_messages_total{source="uncommitted",outcome="ingested"}"#;
    let failed = ingestor
        .ingest(pipeline::Batch {
            inputs: mail(),
            hook: Failing(true),
        })
        .await;
    assert!(failed.is_err());
    let metrics = keepwarm::metrics::render(&[], &[], 0);
    assert!(!metrics.contains(line), "{metrics}");
    let ok = ingestor
        .ingest(pipeline::Batch {
            inputs: mail(),
            hook: (),
        })
        .await
        .unwrap();
    assert_eq!(ok.ingested, 1);
    let metrics = keepwarm::metrics::render(&[], &[], 0);
    assert!(metrics.contains(&format!("{line} 1")), "{metrics}");
}

/// A batch whose commit fails ends the pipe with that error while later batches are still
/// queued: the stages waiting on each other let go (no hang), and nothing after it commits.
#[tokio::test]
async fn a_failed_commit_ends_the_pipe_without_hanging() {
    let (_dir, config, db) = workspace().await;
    let ingestor = ingestor(&db, config).await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let feeder = tokio::spawn(async move {
        for n in 0..8 {
            let raw = format!(
                "From: a@b.example\nTo: amy@sinoexport.example\nSubject: {n}\nMessage-ID: <p{n}@b.example>\n\
                 Date: Tue, 09 Jun 2026 10:00:00 +0000\n\nHello {n}.\n"
            );
            let batch = pipeline::Batch {
                inputs: vec![Pending::ready(inbound(
                    &format!("p{n}"),
                    1_781_000_000_000,
                    &raw,
                ))],
                hook: Failing(n == 1),
            };
            if tx.send(batch).await.is_err() {
                return n;
            }
        }
        8
    });
    let mut committed = 0;
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        ingestor.pipe(rx, |_| committed += 1),
    )
    .await
    .expect("the pipe hung after a failed commit");
    assert!(result.is_err());
    assert_eq!(committed, 1, "only the batch before the failed one");
    assert!(
        feeder.await.unwrap() < 8,
        "the sender learns the pipe stopped"
    );
}
