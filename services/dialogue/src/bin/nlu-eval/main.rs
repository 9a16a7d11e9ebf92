//! `nlu-eval`: runs intent classification and sentiment over a labelled utterance file
//! (`utterances.jsonl`: lang, text, intent, sentiment) and prints accuracy per language, a
//! confidence calibration table and the time per utterance.
//!
//! Usage: `cargo run --release -p parla-dialogue --bin nlu-eval -- [EVAL_DIR_OR_FILE] [--errors|--all] [--fetch] [--cv K]`
//! (default `../shared/eval` relative to the repository). `--fetch` provisions the lexicons first;
//! `--cv K` instead runs K-fold cross-validation over the built-in training examples, fits the
//! intent softmax temperature and scans the sentiment blend (how the shipped defaults were chosen).
//! `--tiebreak MARGIN [--llm MODEL]` asks the language model (default `smollm2-135m`) to choose
//! between the two best intents whenever the margin is below MARGIN, and prints both accuracies.

mod cv;
mod turns;

use std::path::{Path, PathBuf};
use std::time::Instant;

use parla_dialogue::{Language, Understanding, PATTERN_IT_MODEL, VADER_MODEL};
use parla_models::ModelCache;

#[derive(serde::Deserialize)]
struct Case {
    lang: String,
    text: String,
    intent: String,
    sentiment: String,
}

#[derive(Default)]
struct Tally {
    n: usize,
    intent_ok: usize,
    sentiment_ok: usize,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("nlu-eval: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let show_all = args.iter().any(|a| a == "--all");
    let show_errors = show_all || args.iter().any(|a| a == "--errors");
    let fetch = args.iter().any(|a| a == "--fetch");
    let use_encoder = args.iter().any(|a| a == "--encoder");
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eval");
    let mut path = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or(default);
    if path.is_dir() {
        path = path.join("utterances.jsonl");
    }
    let cache = ModelCache::from_env()?;
    if fetch {
        parla_models::fetch(&cache, &[VADER_MODEL, PATTERN_IT_MODEL], &mut |_| {})?;
    }
    if let Some(k) = args
        .iter()
        .position(|a| a == "--cv")
        .and_then(|i| args.get(i + 1))
    {
        return cv::run(&cache, k.parse()?);
    }
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(dir) = flag("--turns") {
        return turns::turns(
            &Understanding::load_with(&cache, use_encoder)?,
            Path::new(&dir),
        );
    }
    if let Some(file) = flag("--lines") {
        return turns::lines(
            &Understanding::load_with(&cache, use_encoder)?,
            Path::new(&file),
        );
    }
    let tiebreak: Option<f32> = flag("--tiebreak").map(|m| m.parse()).transpose()?;
    let llm = match tiebreak {
        Some(_) => {
            let config = parla_llm::LlmConfig {
                model: flag("--llm").unwrap_or_else(|| "smollm2-135m".into()),
                ..Default::default()
            };
            Some(parla_llm::CandleModel::load(&config, &cache)?)
        }
        None => None,
    };
    let mut broken = (0usize, 0usize, 0usize); // (asked, right before, right after)
    let t0 = Instant::now();
    let nlu = Understanding::load_with(&cache, use_encoder)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;

    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let cases: Vec<Case> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let mut tallies = [Tally::default(), Tally::default()];
    let mut times = Vec::with_capacity(cases.len());
    let mut buckets = [(0usize, 0usize); 5];
    for case in &cases {
        let Some(lang) = Language::parse(&case.lang) else {
            continue;
        };
        let t = Instant::now();
        let a = nlu.analyze(&case.text, lang);
        let micros = t.elapsed().as_secs_f64() * 1e6;
        times.push(micros);
        let mut a = a;
        if let (Some(m), Some(model)) = (tiebreak, llm.as_ref()) {
            if a.margin < m && !a.asked_for_human && !a.injection {
                let chosen =
                    parla_dialogue::tiebreak::choose(model, "nlu-eval", &case.text, lang, &a)?;
                broken.0 += 1;
                broken.1 += (a.intent.as_str() == case.intent) as usize;
                broken.2 += (chosen.as_str() == case.intent) as usize;
                if show_errors && chosen != a.intent {
                    println!(
                        "  tie-break {} → {} (truth {}): {}",
                        a.intent, chosen, case.intent, case.text
                    );
                }
                a.intent = chosen;
            }
        }
        if show_errors && micros > 2000.0 {
            println!("  slow ({micros:.0} µs): {}", case.text);
        }
        let tally = &mut tallies[lang as usize];
        tally.n += 1;
        let intent_ok = a.intent.as_str() == case.intent;
        let sentiment_ok = a.sentiment.label.as_str() == case.sentiment;
        tally.intent_ok += intent_ok as usize;
        tally.sentiment_ok += sentiment_ok as usize;
        let b = ((a.confidence * 5.0) as usize).min(4);
        buckets[b].0 += 1;
        buckets[b].1 += intent_ok as usize;
        if show_all || show_errors && (!intent_ok || !sentiment_ok) {
            println!(
                "  [{}] {:<70} intent {}{} ({:.2})  sentiment {}{} ({:+.2} lex {:+.2} model {:+.2})",
                case.lang,
                case.text.chars().take(70).collect::<String>(),
                a.intent,
                if intent_ok { "".to_owned() } else { format!(" ≠ {}", case.intent) },
                a.confidence,
                a.sentiment.label.as_str(),
                if sentiment_ok { "".to_owned() } else { format!(" ≠ {}", case.sentiment) },
                a.sentiment.score,
                a.sentiment.lexicon_score,
                a.sentiment.model_score,
            );
        }
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        times
            .get(((times.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!("file: {}  ({} utterances)", path.display(), cases.len());
    println!("| language | n | intent accuracy | sentiment accuracy |");
    println!("|---|---|---|---|");
    for (lang, t) in [("en", &tallies[0]), ("it", &tallies[1])] {
        let pc = |k: usize| 100.0 * k as f64 / t.n.max(1) as f64;
        println!(
            "| {lang} | {} | {:.1} % | {:.1} % |",
            t.n,
            pc(t.intent_ok),
            pc(t.sentiment_ok)
        );
    }
    println!("\nconfidence calibration (intent):");
    println!("| confidence | n | accuracy |");
    println!("|---|---|---|");
    for (i, (n, ok)) in buckets.iter().enumerate() {
        if *n > 0 {
            println!(
                "| {:.1}–{:.1} | {n} | {:.1} % |",
                i as f64 / 5.0,
                (i + 1) as f64 / 5.0,
                100.0 * *ok as f64 / *n as f64
            );
        }
    }
    if let Some(m) = tiebreak {
        println!(
            "\ntie-break below margin {m}: {} utterances asked; right before {}, after {}",
            broken.0, broken.1, broken.2
        );
    }
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    println!(
        "\ntime per utterance: mean {mean:.1} µs, p50 {:.1} µs, p95 {:.1} µs, max {:.1} µs; load + training {load_ms:.0} ms",
        pct(0.5),
        pct(0.95),
        pct(1.0)
    );
    Ok(())
}
