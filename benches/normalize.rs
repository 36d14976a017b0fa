//! Mail normalization on the inputs that were quadratic (a rescan from every '<', every line or
//! every sign-off), at the sizes that took 29 s to 118 s each and at four times those sizes, next
//! to an ordinary mail of the same size as the baseline. Linear code takes about four times as
//! long on four times the input; quadratic code sixteen times.
//!
//! `cargo bench --bench normalize`; `cargo test --all-targets` runs a smaller smoke size.

use std::time::Instant;

use keepwarm::normalize::parse_email;

fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn mail(content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Buyer <buyer@acme.example>\r\nTo: leo@sinoexport.example\r\nSubject: big\r\n\
         Message-ID: <big@acme.example>\r\nDate: Mon, 08 Jun 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: {content_type}; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

/// The inputs at scale `k` (1: the sizes the review measured).
fn inputs(k: usize) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "html '<a' x 200k",
            mail("text/html", &"<a".repeat(200_000 * k)),
        ),
        (
            "200k blank + 200k text lines",
            mail(
                "text/plain",
                &format!(
                    "{}{}",
                    "\n".repeat(200_000 * k),
                    "text\n".repeat(200_000 * k)
                ),
            ),
        ),
        (
            "'thanks' x 100k lines",
            mail("text/plain", &"thanks\n".repeat(100_000 * k)),
        ),
        (
            "ordinary text lines (baseline)",
            mail(
                "text/plain",
                &"Please quote 500 pcs of the 60x60 panel, CIF Lagos, delivery in March.\n"
                    .repeat(10_000 * k),
            ),
        ),
    ]
}

fn main() {
    let scales: &[usize] = if bench_mode() { &[1, 4] } else { &[1] };
    let smoke = !bench_mode();
    for &k in scales {
        for (name, raw) in inputs(k) {
            // The smoke run (cargo test) parses a tenth of the bytes: it proves the bench runs.
            let raw = if smoke {
                raw[..raw.len() / 10].to_vec()
            } else {
                raw
            };
            let runs = 3;
            let mut best = f64::MAX;
            for _ in 0..runs {
                let t = Instant::now();
                let email = parse_email(&raw).expect("parses");
                best = best.min(t.elapsed().as_secs_f64());
                std::hint::black_box(email);
            }
            println!(
                "{name:<30} x{k}: {:>9} bytes in {:>8.1} ms ({:.0} MB/s), best of {runs}",
                raw.len(),
                best * 1000.0,
                raw.len() as f64 / best / 1e6
            );
        }
    }
}
