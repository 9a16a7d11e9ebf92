//! K-fold cross-validation over the built-in examples: intent and sentiment accuracy out of
//! fold, the softmax temperature that minimises the negative log-likelihood, a reliability table
//! at that temperature, and a scan of the sentiment blend (lexicon weight × label threshold).

use parla_dialogue::intent::{builtin_examples, Example};
use parla_dialogue::sentiment::{Lexicon, SentimentBlend};
use parla_dialogue::{Intent, Language, Understanding, PATTERN_IT_MODEL, VADER_MODEL};
use parla_models::ModelCache;

struct Record {
    lang: Language,
    intent: usize,
    predicted: usize,
    probs: Vec<f32>,
    sentiment: i8,
    lexicon: f32,
    model: f32,
}

fn temper(probs: &[f32], t: f32) -> Vec<f32> {
    let logs: Vec<f32> = probs.iter().map(|p| p.max(1e-12).ln() / t).collect();
    let max = logs.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logs.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// Runs `k`-fold cross-validation and prints the tables.
pub fn run(cache: &ModelCache, k: usize) -> Result<(), Box<dyn std::error::Error>> {
    let k = k.max(2);
    let en = Lexicon::load_vader(&cache.require(VADER_MODEL)?)?;
    let it = Lexicon::load_pattern_xml(&cache.require(PATTERN_IT_MODEL)?)?;
    let mut all = builtin_examples(Language::En);
    all.extend(builtin_examples(Language::It));
    let mut records = Vec::with_capacity(all.len());
    for fold in 0..k {
        let train: Vec<Example> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| i % k != fold)
            .map(|(_, e)| e.clone())
            .collect();
        let nlu = Understanding::train(en.clone(), it.clone(), &train).with_temperature(1.0);
        for e in all
            .iter()
            .enumerate()
            .filter(|(i, _)| i % k == fold)
            .map(|(_, e)| e)
        {
            let a = nlu.analyze(&e.text, e.lang);
            records.push(Record {
                lang: e.lang,
                intent: e.intent.index(),
                predicted: a.intent.index(),
                probs: nlu.intent_probabilities(&e.text, e.lang),
                sentiment: e.sentiment,
                lexicon: a.sentiment.lexicon_score,
                model: a.sentiment.model_score,
            });
        }
    }
    println!(
        "{k}-fold cross-validation over {} built-in examples",
        records.len()
    );
    println!("| language | n | intent accuracy | sentiment accuracy (default blend) |");
    println!("|---|---|---|---|");
    let blend = SentimentBlend::default();
    let label = |b: &SentimentBlend, r: &Record| {
        let s = b.combine(r.lexicon, r.model).label;
        match s {
            parla_dialogue::SentimentLabel::Negative => -1,
            parla_dialogue::SentimentLabel::Neutral => 0,
            parla_dialogue::SentimentLabel::Positive => 1,
        }
    };
    for lang in [Language::En, Language::It] {
        let rs: Vec<&Record> = records.iter().filter(|r| r.lang == lang).collect();
        let n = rs.len().max(1) as f64;
        let ia = rs.iter().filter(|r| r.intent == r.predicted).count() as f64 / n;
        let sa = rs
            .iter()
            .filter(|r| label(&blend, r) == r.sentiment)
            .count() as f64
            / n;
        println!(
            "| {} | {} | {:.1} % | {:.1} % |",
            lang.code(),
            rs.len(),
            ia * 100.0,
            sa * 100.0
        );
    }

    let nll = |t: f32| {
        records
            .iter()
            .map(|r| -(temper(&r.probs, t)[r.intent].max(1e-9)).ln() as f64)
            .sum::<f64>()
            / records.len() as f64
    };
    let (best_t, best_nll) = (1..=60)
        .map(|i| i as f32 * 0.05)
        .map(|t| (t, nll(t)))
        .fold((1.0, f64::MAX), |a, b| if b.1 < a.1 { b } else { a });
    println!(
        "\nintent temperature: NLL {:.3} at 1.00, best {best_t:.2} (NLL {best_nll:.3})",
        nll(1.0)
    );
    println!("| confidence | n | accuracy (model only, T = {best_t:.2}) |");
    println!("|---|---|---|");
    let mut buckets = [(0usize, 0usize); 5];
    for r in &records {
        let p = temper(&r.probs, best_t);
        let (arg, conf) =
            p.iter()
                .enumerate()
                .fold((0, 0.0f32), |a, (i, v)| if *v > a.1 { (i, *v) } else { a });
        let b = ((conf * 5.0) as usize).min(4);
        buckets[b].0 += 1;
        buckets[b].1 += (arg == r.intent) as usize;
    }
    for (i, (n, ok)) in buckets.iter().enumerate().filter(|(_, (n, _))| *n > 0) {
        println!(
            "| {:.1}–{:.1} | {n} | {:.1} % |",
            i as f32 / 5.0,
            (i + 1) as f32 / 5.0,
            100.0 * *ok as f64 / *n as f64
        );
    }

    println!("\nsentiment blend scan (out-of-fold accuracy, both languages):");
    let mut best = (0.0f64, 0.0f32, 0.0f32);
    for w in 0..=10 {
        for th in 2..=8 {
            let b = SentimentBlend {
                lexicon_weight: w as f32 / 10.0,
                threshold: th as f32 * 0.05,
            };
            let acc = records
                .iter()
                .filter(|r| label(&b, r) == r.sentiment)
                .count() as f64
                / records.len() as f64;
            if acc > best.0 {
                best = (acc, b.lexicon_weight, b.threshold);
            }
        }
    }
    println!(
        "best: lexicon weight {:.1}, threshold {:.2} → {:.1} %",
        best.1,
        best.2,
        best.0 * 100.0
    );
    for w in [0.0, 0.3, 0.5, 0.7, 1.0] {
        let b = SentimentBlend {
            lexicon_weight: w,
            threshold: 0.2,
        };
        let acc = records
            .iter()
            .filter(|r| label(&b, r) == r.sentiment)
            .count() as f64
            / records.len() as f64;
        println!(
            "  lexicon weight {w:.1}, threshold 0.20 → {:.1} %",
            acc * 100.0
        );
    }
    let _ = Intent::ALL;
    Ok(())
}
