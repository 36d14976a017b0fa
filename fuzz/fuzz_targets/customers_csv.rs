//! The customer CSV as a team's Excel saves it: encodings, headers, rows, lists.
#![no_main]

use std::sync::LazyLock;

static CONFIG: LazyLock<keepwarm::config::Config> = LazyLock::new(|| {
    keepwarm::config::Config::from_toml(
        "[[reps]]\nid = \"alice\"\nemails = [\"alice@sinoexport.example\"]\n",
        std::path::Path::new("fuzz.toml"),
    )
    .expect("a config")
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let parsed = keepwarm::directory::import::parse_csv(data, &CONFIG);
    for r in &parsed.records {
        assert!(r.id.len() <= 128 && !r.id.is_empty());
    }
});
