//! `POST /api/v1/messages` bodies: JSON → validation → a chat event.
#![no_main]

use std::sync::LazyLock;

use keepwarm::config::RepConfig;

static REPS: LazyLock<Vec<RepConfig>> = LazyLock::new(|| {
    keepwarm::config::Config::from_toml(
        "[[reps]]\nid = \"alice\"\n",
        std::path::Path::new("fuzz.toml"),
    )
    .expect("a config")
    .reps
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<keepwarm::api::BridgeMessage>(data)
        && let Ok(event) = keepwarm::api::bridge_event(m, &REPS)
    {
        assert!(event.id.len() <= 300);
        assert!(!event.id.contains('\0'));
    }
});
