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

libfuzzer_sys::fuzz_target!(
    init: {
        // The one-time work (the phone number metadata, the Traditional → Simplified table,
        // the encodings) is done here, so the per-input time limit measures per-input work:
        // under the fuzzer's instrumentation it takes most of a second on a busy machine.
        for seed in [
            &include_bytes!("../seeds/customers_csv/example.csv")[..],
            &include_bytes!("../seeds/customers_csv/gbk.csv")[..],
        ] {
            keepwarm::directory::import::parse_csv(seed, &CONFIG);
        }
    },
    |data: &[u8]| {
        let parsed = keepwarm::directory::import::parse_csv(data, &CONFIG);
        for r in &parsed.records {
            assert!(r.id.len() <= 128 && !r.id.is_empty());
        }
    }
);
