//! Accuracy floors on Parla's own held-out utterances (tests/data/heldout.jsonl: written apart
//! from the training examples, never used for training), per language.

mod common;

use parla_dialogue::Language;

#[test]
fn intent_and_sentiment_accuracy_floors() {
    let nlu = common::nlu();
    for lang in [Language::En, Language::It] {
        let cases: Vec<_> = common::cases("heldout.jsonl")
            .into_iter()
            .filter(|c| c.language() == lang)
            .collect();
        assert!(cases.len() >= 50, "too few {lang:?} cases");
        let (mut intent_ok, mut sentiment_ok) = (0, 0);
        let mut misses = Vec::new();
        for c in &cases {
            let a = nlu.analyze(&c.text, lang);
            if a.intent.as_str() == c.intent {
                intent_ok += 1;
            } else {
                misses.push(format!("{} → {} (want {})", c.text, a.intent, c.intent));
            }
            sentiment_ok += (a.sentiment.label.as_str() == c.sentiment) as usize;
        }
        let intent = intent_ok as f32 / cases.len() as f32;
        let sentiment = sentiment_ok as f32 / cases.len() as f32;
        println!(
            "{lang:?}: intent {:.1} %, sentiment {:.1} %",
            intent * 100.0,
            sentiment * 100.0
        );
        assert!(
            intent >= 0.85,
            "{lang:?} intent accuracy {intent:.2} < 0.85; misses: {misses:#?}"
        );
        assert!(
            sentiment >= 0.75,
            "{lang:?} sentiment accuracy {sentiment:.2} < 0.75"
        );
    }
}

#[test]
fn confidence_separates_right_from_wrong() {
    // Calibration-ish: answers given with high confidence must be right more often than those
    // given with low confidence.
    let nlu = common::nlu();
    let (mut hi, mut hi_ok, mut lo, mut lo_ok) = (0, 0, 0, 0);
    for c in common::cases("heldout.jsonl") {
        let a = nlu.analyze(&c.text, c.language());
        assert!((0.0..=1.0).contains(&a.confidence) && (0.0..=1.0).contains(&a.margin));
        let ok = (a.intent.as_str() == c.intent) as usize;
        if a.confidence >= 0.5 {
            hi += 1;
            hi_ok += ok;
        } else {
            lo += 1;
            lo_ok += ok;
        }
    }
    assert!(
        hi > 0 && hi_ok as f32 / hi as f32 >= 0.95,
        "high-confidence accuracy {hi_ok}/{hi}"
    );
    assert!(lo == 0 || (lo_ok as f32 / lo as f32) < hi_ok as f32 / hi as f32);
}
