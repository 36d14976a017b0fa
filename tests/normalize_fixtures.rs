//! Table-driven tests of mail normalization over the .eml fixtures in tests/fixtures/eml.

use keepwarm::normalize::mime::ParseError;
use keepwarm::normalize::{Class, parse_email};

struct Case {
    file: &'static str,
    message_id: Option<&'static str>,
    from: &'static str,
    subject: &'static str,
    class: Class,
    /// The whole stored text.
    text: &'static str,
}

const CASES: &[Case] = &[
    Case {
        file: "gb2312_foxmail_quote.eml",
        message_id: Some("gb2312-1@acme-cn.example"),
        from: "zhangsan@acme-cn.example",
        subject: "回复：报价单",
        class: Class::Human,
        text: "王经理您好：\n\n请尽快报价，我们需要5000个，价格要比上次低一点。朱镕基",
    },
    Case {
        file: "big5_traditional_quote.eml",
        message_id: Some("big5-1@mingguang.example.tw"),
        from: "chen@mingguang.example.tw",
        subject: "回覆: 報價",
        class: Class::Human,
        text: "陳先生您好：\n\n請提供樣品，我們下週要測試。",
    },
    Case {
        file: "html_only_gmail_quote.eml",
        message_id: Some("CAhtml-1@mail.gmail.com"),
        from: "maria@ferreteria.example.mx",
        subject: "Re: Quotation",
        class: Class::Human,
        text: "Hi Leo,\nWe need your best price for 2 000 pcs & the lead time.",
    },
    Case {
        file: "outlook_alternative_attachment.eml",
        message_id: Some("SJ0PR-outlook-1@brightway.example"),
        from: "mike.ross@brightway.example",
        subject: "RE: order",
        class: Class::Human,
        text: "Hello Leo,\n\nPlease send the PI, we accept 30% T/T deposit.",
    },
    Case {
        file: "autoreply_headers.eml",
        message_id: Some("auto-1@nordhavn.example"),
        from: "kari@nordhavn.example",
        subject: "Automatic reply: Samples",
        class: Class::AutoReply,
        text: "I am out of the office until 12 December. For urgent matters contact post@nordhavn.example.",
    },
    Case {
        file: "autoreply_chinese_subject.eml",
        message_id: Some("auto-2@hualian.example.sg"),
        from: "lim@hualian.example.sg",
        subject: "自动回复: 合页质量问题",
        class: Class::AutoReply,
        text: "您好，我目前不在办公室，急事请致电。",
    },
    Case {
        file: "bounce_postfix.eml",
        message_id: Some("20260610.ABC@mx1.sinoexport.example"),
        from: "mailer-daemon@mx1.sinoexport.example",
        subject: "Undelivered Mail Returned to Sender",
        class: Class::Bounce,
        text: "This is the mail system at host mx1.\nI'm sorry to have to inform you that your message could not be delivered.",
    },
    Case {
        file: "newsletter_list.eml",
        message_id: Some("nl-1@tradeleads.example"),
        from: "news@tradeleads.example",
        subject: "20% discount this week",
        class: Class::Bulk,
        text: "Best price! Urgent buyers! Free samples!",
    },
    Case {
        file: "no_message_id_future_date.eml",
        message_id: None,
        from: "ana@levante.example.es",
        subject: "RE: pedido",
        class: Class::Human,
        text: "Necesitamos la mercancía urgente.",
    },
    Case {
        file: "cp1251_raw8bit_subject.eml",
        message_id: Some("ru-1@techsnab.example.ru"),
        from: "i.petrov@techsnab.example.ru",
        subject: "Образцы",
        class: Class::Human,
        text: "Добрый день!\n\nПрошу выслать образцы.",
    },
    Case {
        file: "iso2022jp_japanese.eml",
        message_id: Some("jp-1@sakura.example.jp"),
        from: "tanaka@sakura.example.jp",
        subject: "サンプル",
        class: Class::Human,
        text: "田中です。\n\nサンプルを送ってください。",
    },
];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/eml/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn fixtures_normalize_as_expected() {
    for case in CASES {
        let email =
            parse_email(&fixture(case.file)).unwrap_or_else(|e| panic!("{}: {e}", case.file));
        assert_eq!(
            email.message_id.as_deref(),
            case.message_id,
            "{}: message id",
            case.file
        );
        assert_eq!(
            email.from.as_ref().map(|f| f.email.as_str()),
            Some(case.from),
            "{}: from",
            case.file
        );
        assert_eq!(email.subject, case.subject, "{}: subject", case.file);
        assert_eq!(email.class, case.class, "{}: class", case.file);
        assert_eq!(email.text, case.text, "{}: text", case.file);
    }
}

#[test]
fn recipients_dates_and_keys() {
    let e = parse_email(&fixture("outlook_alternative_attachment.eml")).unwrap();
    let to: Vec<&str> = e.to.iter().map(|m| m.email.as_str()).collect();
    let cc: Vec<&str> = e.cc.iter().map(|m| m.email.as_str()).collect();
    assert_eq!(to, ["zhao.lei@sinoexport.example"]);
    assert_eq!(cc, ["purchasing@brightway.example"]);
    assert_eq!(e.from.as_ref().unwrap().name, "Mike Ross");
    // Tue, 09 Jun 2026 08:00:00 -0700
    assert_eq!(e.date, Some(1_781_017_200_000));

    // Without a Message-ID the key is a stable content hash.
    let a = parse_email(&fixture("no_message_id_future_date.eml")).unwrap();
    let b = parse_email(&fixture("no_message_id_future_date.eml")).unwrap();
    assert!(a.content_key.starts_with("sha256:"));
    assert_eq!(a.content_key, b.content_key);
    assert_ne!(a.content_key, e.content_key);
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    let err = parse_email(&fixture("malformed_binary.eml")).unwrap_err();
    assert!(!err.to_string().is_empty());
    assert_eq!(parse_email(b"").unwrap_err(), ParseError::Empty);
    assert_eq!(ParseError::Empty.to_string(), "empty message");
    assert!(parse_email(b"just some words without any header\n").is_err());
    // Truncated MIME never panics.
    let raw = fixture("outlook_alternative_attachment.eml");
    for cut in (0..raw.len()).step_by(97) {
        let _ = parse_email(&raw[..cut]);
    }
}

#[test]
fn attachments_are_skipped_without_changing_text() {
    use keepwarm::normalize::mime::skip_binary_decoding;
    let raw = fixture("outlook_alternative_attachment.eml");
    let slim = skip_binary_decoding(&raw).expect("pdf body dropped");
    assert!(
        slim.len() < raw.len() / 3,
        "{} of {} bytes left",
        slim.len(),
        raw.len()
    );
    let text = String::from_utf8_lossy(&slim);
    assert!(
        text.contains("filename=\"PO-1234.pdf\""),
        "the part's headers stay"
    );
    assert!(text.ends_with("--mix--\n"), "the closing boundary stays");
    let full = parse_email(&raw).unwrap();
    let direct = parse_email(&slim).unwrap();
    assert_eq!(format!("{direct:?}"), format!("{full:?}"));
    // Mail without attachments is left alone.
    assert!(skip_binary_decoding(&fixture("autoreply_headers.eml")).is_none());
    assert!(skip_binary_decoding(&fixture("bounce_postfix.eml")).is_none());
}

/// A mail around `body` with the given content type.
fn mail(content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Buyer <buyer@acme.example>\r\nTo: leo@sinoexport.example\r\nSubject: big\r\n\
         Message-ID: <big@acme.example>\r\nDate: Mon, 08 Jun 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: {content_type}; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

/// Inputs that took 29 s to 118 s each when a heuristic rescanned the text from every line or
/// every '<' (quadratic): now each is one pass. The budget here is generous (a debug build on a
/// loaded machine), far below what the quadratic code took even in a release build; the
/// figures are in BENCHMARKS.md (`cargo bench --bench normalize`).
#[test]
fn pathological_bodies_are_parsed_in_linear_time() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // "<a" × 200,000: every '<' opened a tag that never closed.
        (
            "unterminated tags",
            mail("text/html", &"<a".repeat(200_000)),
        ),
        // 200k blank lines then 200k text lines: the disclaimer scan looked back each line.
        (
            "blank then text lines",
            mail(
                "text/plain",
                &format!(
                    "{}{}",
                    "\n".repeat(200_000),
                    "confidential x\n".repeat(200_000)
                ),
            ),
        ),
        // "thanks" × 100,000 lines: each weak sign-off counted every line after it.
        (
            "weak sign-offs",
            mail("text/plain", &"thanks\n".repeat(100_000)),
        ),
        // '&' followed by a long run without a terminator, many times.
        (
            "entities",
            mail(
                "text/html",
                &format!("<p>{}</p>", "&abcdefghijklmnopqrstuvwxyz".repeat(20_000)),
            ),
        ),
        // A huge class attribute on many tags.
        (
            "long attributes",
            mail(
                "text/html",
                &format!("<div class=\"{}\">x</div>", "c ".repeat(2_000)).repeat(100),
            ),
        ),
    ];
    for (name, raw) in cases {
        let started = std::time::Instant::now();
        let email = parse_email(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(10),
            "{name}: {took:?} for {} bytes",
            raw.len()
        );
        assert!(email.text.len() <= email.body_text.len());
    }
}

#[test]
fn text_over_the_cap_keeps_its_head_and_is_flagged() {
    let body = format!(
        "Please quote 500 pcs.\n{}",
        "filler line of a pasted log\n".repeat(100_000)
    );
    let email = parse_email(&mail("text/plain", &body)).unwrap();
    assert!(email.flags.contains(&"text-truncated"), "{:?}", email.flags);
    assert!(email.body_text.len() <= keepwarm::normalize::MAX_TEXT_BYTES);
    assert!(email.text.starts_with("Please quote 500 pcs."));
    let small = parse_email(&mail("text/plain", "Please quote 500 pcs.")).unwrap();
    assert!(small.flags.is_empty());
}

#[test]
fn a_spent_budget_skips_the_remaining_parts_and_flags_the_mail() {
    let raw = mail("text/plain", "Please quote 500 pcs.");
    let spent = keepwarm::normalize::Budget::new(std::time::Duration::ZERO);
    let email = keepwarm::normalize::mime::parse_email_within(&raw, &spent).unwrap();
    assert_eq!(email.flags, ["over-budget"]);
    assert_eq!(email.text, "");
    assert_eq!(email.message_id.as_deref(), Some("big@acme.example"));
}
