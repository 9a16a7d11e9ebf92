//! Shared helpers: the understanding as the service runs it, loaded once from the model cache
//! (lexicons and the sentence encoder provisioned by `parla models fetch`, as
//! `scripts/prepare.sh` does), and the labelled case files.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use parla_dialogue::{Language, Understanding};

/// The understanding with the sentence encoder, loaded once per test binary.
pub fn nlu() -> &'static Understanding {
    static NLU: OnceLock<Understanding> = OnceLock::new();
    NLU.get_or_init(|| {
        let cache = parla_models::ModelCache::from_env().expect("model cache");
        Understanding::load_with(&cache, true).expect(
            "models provisioned: run `parla models fetch vader-lexicon pattern-it-sentiment use-multilingual`",
        )
    })
}

/// A labelled utterance.
#[derive(serde::Deserialize)]
pub struct Case {
    pub lang: String,
    pub text: String,
    pub intent: String,
    pub sentiment: String,
}

impl Case {
    pub fn language(&self) -> Language {
        Language::parse(&self.lang).expect("en or it")
    }
}

/// Cases of a JSON-lines file under tests/data.
pub fn cases(name: &str) -> Vec<Case> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path)
        .expect("case file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("case line"))
        .collect()
}

/// The repository's prompts directory.
pub fn prompts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../prompts")
}
