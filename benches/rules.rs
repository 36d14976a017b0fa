//! The rule engine with the whole default pack over real message bodies, side by side with the
//! bare aho-corasick automaton of the same keywords over the same text, in MB/s on one core.
//!
//! Text: the own words of every message in `KEEPWARM_BENCH_MAILDIR` (set by
//! `scripts/bench-rules` to the generated benchmark corpus), else the development corpus.

use std::path::PathBuf;

use aho_corasick::{AhoCorasickBuilder, MatchKind};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keepwarm::normalize::{parse_email, text};
use keepwarm::rules;

/// Own words (what the pipeline feeds the rules) and whole decoded bodies of every message.
fn bodies() -> (Vec<String>, Vec<String>) {
    let dir = std::env::var_os("KEEPWARM_BENCH_MAILDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/dev/maildir")
        });
    let (mut out, mut whole) = (Vec::new(), Vec::new());
    for sub in ["cur", "new"] {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            if let Ok(raw) = std::fs::read(e.path())
                && let Ok(mail) = parse_email(&raw)
            {
                if !mail.body_text.is_empty() {
                    whole.push(mail.body_text);
                }
                if !mail.text.is_empty() {
                    out.push(mail.text);
                }
            }
        }
    }
    assert!(
        !out.is_empty(),
        "no message text found in {}",
        dir.display()
    );
    (out, whole)
}

fn bench(c: &mut Criterion) {
    let (texts, whole) = bodies();
    let bytes: usize = texts.iter().map(String::len).sum();
    let whole_bytes: usize = whole.iter().map(String::len).sum();
    let set = rules::load(None).expect("default pack");
    let literals: Vec<String> = set
        .rules
        .iter()
        .flat_map(|r| {
            r.keywords
                .iter()
                .map(|k| text::fold_str(k.text.trim_end_matches('*')))
        })
        .collect();
    let bare = AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .build(&literals)
        .unwrap();
    eprintln!(
        "{} texts, {:.1} MB ({:.1} MB of whole bodies), {} rules, {} literals",
        texts.len(),
        bytes as f64 / 1e6,
        whole_bytes as f64 / 1e6,
        set.rules.len(),
        literals.len()
    );

    // The measure: whole decoded bodies (quoted history and signatures included, the
    // text the peers' regex row scans).
    let mut g = c.benchmark_group("rules-bodies");
    g.throughput(Throughput::Bytes(whole_bytes as u64));
    g.sample_size(10);
    g.bench_function("engine (default pack)", |b| {
        b.iter(|| {
            whole
                .iter()
                .map(|t| set.tag_message("", t).len())
                .sum::<usize>()
        })
    });
    g.bench_function("bare aho-corasick automaton, same keywords", |b| {
        b.iter(|| {
            whole
                .iter()
                .map(|t| bare.find_overlapping_iter(t).count())
                .sum::<usize>()
        })
    });
    g.finish();

    // What the pipeline feeds the rules: each message's own words (quotes and signatures cut),
    // shorter and denser in hits.
    let mut g = c.benchmark_group("rules-own-words");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    g.bench_function("engine (default pack)", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| set.tag_message("", t).len())
                .sum::<usize>()
        })
    });
    g.bench_function("fold only", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| text::fold(t).text.len())
                .sum::<usize>()
        })
    });
    g.bench_function("bare aho-corasick automaton, same keywords", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| bare.find_overlapping_iter(t).count())
                .sum::<usize>()
        })
    });
    g.finish();

    // Prose as mail clients type it for their users (curly quotes, apostrophes, dashes,
    // ellipses), which the generated corpus has little of: folding alone.
    let prose = "Hi Tom \u{2013} thanks for the quick reply\u{2026} We\u{2019}ve checked the \
                 \u{201c}final\u{201d} offer with our buyer \u{2014} it\u{2019}s still about 8% \
                 above what our customer\u{2019}s budget allows. Could you look at the price \
                 again? We\u{2019}d like to place the order this month.\n\n"
        .repeat(10);
    let mut g = c.benchmark_group("fold-typographic-prose");
    g.throughput(Throughput::Bytes(prose.len() as u64));
    g.bench_function("fold only", |b| b.iter(|| text::fold(&prose).text.len()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
