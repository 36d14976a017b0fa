//! A team's rule file, next to the default pack's common.toml (its cue sets and conditional
//! cues, so `[requires.*]` and `conditional = "cancel"` run too): parsed and checked (file:line
//! errors, never a panic), compiled, and run over sample texts and over itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = keepwarm::rules::parse::load_texts([
        (
            std::path::PathBuf::from("rules/common.toml"),
            include_str!("../../rules/common.toml").to_string(),
        ),
        (
            std::path::PathBuf::from("rules/fuzz.toml"),
            text.to_string(),
        ),
    ]);
    if let Ok(rules) = parsed
        && let Ok(set) = keepwarm::rules::RuleSet::compile(rules)
    {
        let _ = set.tag_message("Re: price", "Your price is too high, we need it urgently.");
        let _ = set.tag_message(
            "",
            "If you can send samples. 如果价格合适就下单。Fiyat uygun olursa sipariş vereceğiz.",
        );
        let _ = set.tag_message("", text);
    }
});
