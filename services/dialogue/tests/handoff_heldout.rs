//! Hand-off moments on lines no training or evaluation file holds (`tests/handoff-heldout/`,
//! written by an author who saw neither the code nor the data, never tuned on): each kind —
//! a sensitive topic, a request for a person, a near miss that must be left alone — in both
//! languages. The target (95 %) is checked by the ignored test below until it is met;
//! the other keeps a floor under every kind so that a broken classifier or rule fails the suite.

mod common;

use std::collections::BTreeMap;

use parla_dialogue::Language;

/// (kind/lang) → (lines, right), and the misses.
fn score() -> (BTreeMap<String, (usize, usize)>, Vec<String>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/handoff-heldout/lines.jsonl");
    let text = std::fs::read_to_string(&path).expect("tests/handoff-heldout/lines.jsonl");
    let nlu = common::nlu();
    let mut stats: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let lang = Language::parse(v["lang"].as_str().unwrap_or("en")).unwrap_or(Language::En);
        let said = v["text"].as_str().unwrap_or_default();
        let expect = v["expect"].as_str().unwrap_or_default();
        let a = nlu.analyze(said, lang);
        let right = match expect {
            "sensitive" => a.sensitive_topic.is_some(),
            "request" => a.asked_for_human,
            _ => a.sensitive_topic.is_none() && !a.asked_for_human,
        };
        let e = stats
            .entry(format!("{expect}/{}", lang.code()))
            .or_default();
        e.0 += 1;
        e.1 += usize::from(right);
        if !right {
            misses.push(format!("[{expect}] {said}"));
        }
    }
    (stats, misses)
}

fn table(stats: &BTreeMap<String, (usize, usize)>) -> String {
    let mut out = String::from("| kind | lines | right |\n|---|---|---|\n");
    for (k, (n, ok)) in stats {
        out.push_str(&format!(
            "| {k} | {n} | {:.1} % ({ok}/{n}) |\n",
            100.0 * *ok as f64 / *n as f64
        ));
    }
    out
}

#[test]
fn every_kind_of_hand_off_moment_is_recognised_in_both_languages() {
    let (stats, misses) = score();
    let table = table(&stats);
    println!("{table}");
    for kind in ["sensitive", "request", "none"] {
        for lang in ["en", "it"] {
            let (n, ok) = stats
                .get(&format!("{kind}/{lang}"))
                .copied()
                .unwrap_or_default();
            assert!(n >= 10, "{kind}/{lang}: only {n} lines");
            // A floor, not the target: two lines in three. Below it the classifier or the
            // rules are broken, not merely imperfect.
            assert!(
                3 * ok >= 2 * n,
                "{kind}/{lang}: {ok}/{n}\n{table}\nmisses:\n{}",
                misses.join("\n")
            );
        }
    }
}

#[test]
#[ignore = "held-out target not met yet: sensitive 92.5 % EN / 85.0 % IT, requests 86.7 % EN (5bc9320)"]
fn every_kind_of_hand_off_moment_meets_the_target() {
    let (stats, misses) = score();
    let table = table(&stats);
    for (kind, (n, ok)) in &stats {
        assert!(
            *ok as f64 >= 0.95 * *n as f64,
            "{kind}: {ok}/{n}\n{table}\nmisses:\n{}",
            misses.join("\n")
        );
    }
}
