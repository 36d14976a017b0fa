//! A team's rule file: parsed and checked (file:line errors, never a panic), compiled, and run
//! over a sample text and over itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = keepwarm::rules::parse::load_texts([(
        std::path::PathBuf::from("rules/fuzz.toml"),
        text.to_string(),
    )]);
    if let Ok(rules) = parsed
        && let Ok(set) = keepwarm::rules::RuleSet::compile(rules)
    {
        let _ = set.tag_message("Re: price", "Your price is too high, we need it urgently.");
        let _ = set.tag_message("", text);
    }
});
