//! WhatsApp Cloud API webhook bodies: the parser, then each event through the pipeline.
#![no_main]

use std::sync::{Arc, LazyLock};

use keepwarm::directory::identity::Directory;
use keepwarm::pipeline::{Context, prepare};

static CTX: LazyLock<Context> = LazyLock::new(|| {
    let mut d = Directory::default();
    d.phones.insert("+2348012345678".into(), "C1".into());
    Context::new(
        d,
        Arc::new(keepwarm::rules::load(None).expect("the built-in rules")),
        Arc::new(keepwarm::config::Config::default()),
    )
});

libfuzzer_sys::fuzz_target!(
    init: {
        // One-time work (the rule pack compiled, lookup tables built) before the first input,
        // so the per-input time limit measures per-input work.
        LazyLock::force(&CTX);
    },
    |data: &[u8]| {
        if let Ok(events) = keepwarm::source::whatsapp::parse(data) {
            for inbound in keepwarm::source::whatsapp::inbound_of(events, 1_780_000_000_000) {
                let _ = prepare(&CTX, inbound);
            }
        }
    }
);
