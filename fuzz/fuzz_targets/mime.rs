//! The whole preparation of a raw mail: MIME, charsets, HTML, quotes, signatures,
//! classification, the sender check, matching and the rules.
#![no_main]

use std::sync::{Arc, LazyLock};

use keepwarm::directory::identity::{Directory, DomainOwner};
use keepwarm::message::{Inbound, Origin, Payload};
use keepwarm::pipeline::{Context, prepare};

static CTX: LazyLock<Context> = LazyLock::new(|| {
    let mut d = Directory::default();
    d.emails
        .insert("buyer@lagostrade.example".into(), "C1".into());
    d.domains.insert(
        "lagostrade.example".into(),
        DomainOwner::Customer("C1".into()),
    );
    d.team_domains.push("sinoexport.example".into());
    d.rep_emails
        .insert("alice@sinoexport.example".into(), "alice".into());
    d.build_lookalikes();
    let config = keepwarm::config::Config::default();
    Context::new(
        d,
        Arc::new(keepwarm::rules::load(None).expect("the built-in rules")),
        Arc::new(config),
    )
});

libfuzzer_sys::fuzz_target!(
    init: {
        // One-time work (the rule pack compiled, lookup tables built) before the first input,
        // so the per-input time limit measures per-input work.
        LazyLock::force(&CTX);
    },
    |data: &[u8]| {
        for verify_sender in [false, true] {
            let inbound = Inbound {
                origin: Origin {
                    source_key: "fuzz:1".into(),
                    mailbox: "fuzz".into(),
                    rep: Some("alice".into()),
                    received_at: 1_780_000_000_000,
                    verify_sender,
                },
                payload: Payload::Email(data.to_vec()),
            };
            let _ = prepare(&CTX, inbound);
        }
    }
);
