//! Out-of-office return dates in six languages.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let sent = 1_780_000_000_000;
        if let Some(back) = keepwarm::followup::ooo::return_date(text, sent) {
            // The start of a day from the sending day on, within 120 days.
            assert!(back > sent - 86_400_000, "a return date before the mail");
            assert!(
                back <= sent + 121 * 86_400_000,
                "a return date too far ahead"
            );
        }
    }
});
