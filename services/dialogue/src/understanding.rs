//! One turn's understanding: intent with confidence and margin, slots, sentiment, prompt
//! injection and sensitive topics, for English and Italian. Models are trained at load time from
//! the shipped examples (a few milliseconds); the sentiment lexicons come from the model cache.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use parla_models::ModelCache;
use serde::{Deserialize, Serialize};

use crate::encoder::Encoder;
use crate::intent::{self, Example, FeatureHasher, LinearModel, SparseVec, TrainOptions};
use crate::sentiment::{Lexicon, LexiconScorer, Sentiment, SentimentBlend};
use crate::slots::{self, Slot};
use crate::{sensitive, text, DialogueError, Intent, Language, SensitiveTopic};

/// Manifest name of the English sentiment lexicon.
pub const VADER_MODEL: &str = "vader-lexicon";
/// Manifest name of the Italian sentiment lexicon.
pub const PATTERN_IT_MODEL: &str = "pattern-it-sentiment";

/// Longest text analysed; the rest of an oversized turn is ignored.
pub const MAX_CHARS: usize = 2000;

/// The understanding of one turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Most likely intent (after rules).
    pub intent: Intent,
    /// Probability of `intent`, in [0, 1].
    pub confidence: f32,
    /// The second most likely intent.
    pub runner_up: Intent,
    /// Probability gap between the intent and the runner-up, in [0, 1].
    pub margin: f32,
    /// Values found by rules.
    pub slots: Vec<Slot>,
    /// Sentiment of the turn.
    pub sentiment: Sentiment,
    /// The text tries to change Parla's instructions (intent is then `out_of_scope`).
    pub injection: bool,
    /// A topic that needs a person.
    pub sensitive_topic: Option<SensitiveTopic>,
    /// The customer asks for a person: recognised by rule, or the model is sure of `human`.
    pub asked_for_human: bool,
}

impl Analysis {
    /// The first slot value of a kind.
    pub fn slot(&self, kind: slots::SlotKind) -> Option<&str> {
        self.slots
            .iter()
            .find(|s| s.kind == kind)
            .map(|s| s.value.as_str())
    }
}

#[derive(Debug, Clone)]
struct LanguageModels {
    hasher: FeatureHasher,
    intent: LinearModel,
    sentiment: LinearModel,
    scorer: LexiconScorer,
}

/// Intent, slot and sentiment analysis for English and Italian.
#[derive(Debug, Clone)]
pub struct Understanding {
    langs: HashMap<Language, LanguageModels>,
    sensitive: sensitive::SensitiveModel,
    blend: SentimentBlend,
    temperature: f32,
    /// The sentence encoder whose vectors sit beside the n-grams, when loaded.
    encoder: Option<Arc<Encoder>>,
}

/// Weight of the sentence encoder's unit vector beside the unit-length n-gram vector, for intent
/// and for sentiment.
pub const DENSE_WEIGHT: [f32; 2] = [2.0, SENTIMENT_DENSE];
const SENTIMENT_DENSE: f32 = 0.5;

/// The features of one text: its n-grams, then (with an encoder) its sentence vector.
fn features(hasher: &FeatureHasher, text: &str, dense: Option<&[f32]>) -> [SparseVec; 2] {
    let words = hasher.transform(text);
    DENSE_WEIGHT.map(|weight| {
        let mut x = words.clone();
        if let Some(v) = dense {
            hasher.append_dense(&mut x, v, weight);
        }
        x
    })
}

/// Feature dimensions for a hasher, with or without the encoder's vector.
fn dims(hasher: &FeatureHasher, dense: bool) -> usize {
    hasher.dim() + if dense { crate::encoder::DIMENSIONS } else { 0 }
}

/// Softmax temperature of intent probabilities, fitted by 5-fold cross-validation on the
/// built-in examples (`nlu-eval --cv 5`): the raw model is under-confident.
pub const INTENT_TEMPERATURE: f32 = 0.4;

/// `p^(1/t)` renormalised: the same as dividing the logits by `t`.
fn temper(probs: &[f32], t: f32) -> Vec<f32> {
    if (t - 1.0).abs() < 1e-6 {
        return probs.to_vec();
    }
    let logs: Vec<f32> = probs.iter().map(|p| p.max(1e-12).ln() / t).collect();
    let max = logs.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logs.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

const FEATURE_BITS: u32 = 16;

/// Model probability of `human` that, with a person named ("someone", "qualcuno", "a
/// colleague"), counts as a request without a rule match: an indirect one ("is there someone who
/// could sort that out") is often a complaint first. On the development set (`tests/eval-dev`)
/// both indirect requests score 0.22 and 0.33 and the other turns naming a person 0.04 or less,
/// except a manipulation that already scored 0.62 (at the former threshold of 0.6).
const HUMAN_LIKELY: f32 = 0.2;

/// Words around a person's mention read on their own for an indirect request.
const PERSON_WINDOW: usize = 14;

impl Understanding {
    /// Loads the lexicons from the model cache (`parla models fetch vader-lexicon
    /// pattern-it-sentiment`) and trains on the built-in examples.
    pub fn load(cache: &ModelCache) -> Result<Self, DialogueError> {
        let vader = cache.require(VADER_MODEL)?;
        let pattern = cache.require(PATTERN_IT_MODEL)?;
        Self::from_paths(&vader, &pattern)
    }

    /// Like [`load`](Self::load), with the sentence encoder under the classifiers when
    /// `encoder` (`parla models fetch use-multilingual`).
    pub fn load_with(cache: &ModelCache, encoder: bool) -> Result<Self, DialogueError> {
        if !encoder {
            return Self::load(cache);
        }
        let en = Lexicon::load_vader(&cache.require(VADER_MODEL)?)?;
        let it = Lexicon::load_pattern_xml(&cache.require(PATTERN_IT_MODEL)?)?;
        let encoder = Encoder::load(cache).map_err(|e| DialogueError::Resource {
            path: crate::encoder::USE_MODEL.into(),
            reason: e.to_string(),
        })?;
        let mut examples = intent::builtin_examples(Language::En);
        examples.extend(intent::builtin_examples(Language::It));
        Ok(Self::train_with(en, it, &examples, Some(Arc::new(encoder))))
    }

    /// Like [`load`](Self::load) with explicit lexicon files.
    pub fn from_paths(vader: &Path, pattern_it: &Path) -> Result<Self, DialogueError> {
        let en = Lexicon::load_vader(vader)?;
        let it = Lexicon::load_pattern_xml(pattern_it)?;
        let mut examples = intent::builtin_examples(Language::En);
        examples.extend(intent::builtin_examples(Language::It));
        Ok(Self::train(en, it, &examples))
    }

    /// Trains on `examples` (e.g. a fold of the built-in ones, for held-out measurement).
    pub fn train(en: Lexicon, it: Lexicon, examples: &[Example]) -> Self {
        Self::train_with(en, it, examples, None)
    }

    /// Trains on `examples`, with the sentence encoder's vectors beside the n-grams when given.
    pub fn train_with(
        en: Lexicon,
        it: Lexicon,
        examples: &[Example],
        encoder: Option<Arc<Encoder>>,
    ) -> Self {
        let embed = |texts: &[&str]| -> Option<Vec<Vec<f32>>> {
            let encoder = encoder.as_ref()?;
            match encoder.embed_examples(texts) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::warn!(error = %e, "sentence encoder failed on the examples; n-grams only");
                    None
                }
            }
        };
        let mut langs = HashMap::new();
        let mut dense_ok = encoder.is_some();
        for (lang, lexicon) in [(Language::En, en), (Language::It, it)] {
            let own: Vec<&Example> = examples.iter().filter(|e| e.lang == lang).collect();
            let hasher = FeatureHasher::fit(FEATURE_BITS, own.iter().map(|e| e.text.as_str()));
            let texts: Vec<&str> = own.iter().map(|e| e.text.as_str()).collect();
            let dense = if dense_ok { embed(&texts) } else { None };
            dense_ok &= dense.is_some();
            let vectors: Vec<_> = own
                .iter()
                .enumerate()
                .map(|(i, e)| features(&hasher, &e.text, dense.as_ref().map(|d| d[i].as_slice())))
                .collect();
            let dim = dims(&hasher, dense.is_some());
            let (intents, moods): (Vec<_>, Vec<_>) = vectors
                .into_iter()
                .zip(own.iter())
                .map(|([xi, xs], e)| ((xi, e.intent.index()), (xs, (e.sentiment + 1) as usize)))
                .unzip();
            let opts = TrainOptions::default();
            langs.insert(
                lang,
                LanguageModels {
                    intent: LinearModel::train(Intent::ALL.len(), dim, &intents, opts),
                    sentiment: LinearModel::train(3, dim, &moods, opts),
                    scorer: LexiconScorer::new(lang, lexicon),
                    hasher,
                },
            );
        }
        let nlu = Understanding {
            langs,
            sensitive: sensitive::SensitiveModel::train_with(
                &sensitive::builtin_lines(),
                examples,
                encoder.clone().filter(|_| dense_ok),
            ),
            blend: SentimentBlend::default(),
            temperature: INTENT_TEMPERATURE,
            encoder: encoder.filter(|_| dense_ok),
        };
        // Compile every lazily built pattern now, not on the first customer's turn.
        for lang in [Language::En, Language::It] {
            let _ = nlu.analyze(
                "great, warm-up: order A1042, 12,50 € on 2026-11-06, size M",
                lang,
            );
        }
        crate::redact::redact("warm-up a@b.it");
        nlu
    }

    /// The sensitive-topic classifier.
    pub fn sensitive_classifier(&self) -> &sensitive::SensitiveModel {
        &self.sensitive
    }

    /// Replaces the sensitive-topic classifier (e.g. one trained on a fold, or with another
    /// threshold).
    pub fn with_sensitive(mut self, model: sensitive::SensitiveModel) -> Self {
        self.sensitive = model;
        self
    }

    /// How lexicon and model sentiment are blended and cut into labels.
    pub fn blend(&self) -> SentimentBlend {
        self.blend
    }

    /// Replaces how lexicon and model sentiment are blended.
    pub fn with_blend(mut self, blend: SentimentBlend) -> Self {
        self.blend = blend;
        self
    }

    /// The statistical model's probability for every intent (rules not applied), in
    /// [`Intent::ALL`] order.
    pub fn intent_probabilities(&self, text: &str, lang: Language) -> Vec<f32> {
        let text: String = text.chars().take(MAX_CHARS).collect();
        let models = &self.langs[&lang];
        let [x, _] = features(&models.hasher, &text, self.embed(&text).as_deref());
        temper(&models.intent.probabilities(&x), self.temperature)
    }

    /// The sentence vector of a turn, when the encoder is loaded (`None` also when it fails:
    /// the n-grams still carry the turn).
    fn embed(&self, text: &str) -> Option<Vec<f32>> {
        let encoder = self.encoder.as_ref()?;
        match encoder.embed(text) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "sentence encoder failed on a turn; n-grams only");
                None
            }
        }
    }

    /// A request for a person said indirectly: the text names a person and P(`human`) is at
    /// least [`HUMAN_LIKELY`], for the whole turn (`whole`) or for the words around a person's
    /// mention — a request at the end of a long complaint ("…so it's a bit of a faff. Is there
    /// someone who could sort that out?") is diluted in the whole.
    fn wants_person(&self, folded: &str, lang: Language, whole: f32) -> bool {
        let mentions = intent::person_mentions(folded);
        if mentions.is_empty() {
            return false;
        }
        if whole >= HUMAN_LIKELY {
            return true;
        }
        let words: Vec<(usize, &str)> = folded
            .split_whitespace()
            .map(|w| (w.as_ptr() as usize - folded.as_ptr() as usize, w))
            .collect();
        if words.len() <= PERSON_WINDOW {
            return false;
        }
        mentions.iter().take(3).any(|m| {
            let at = words
                .iter()
                .rposition(|(start, _)| *start <= m.start)
                .unwrap_or(0);
            let from = at.saturating_sub(PERSON_WINDOW / 2);
            let to = (from + PERSON_WINDOW).min(words.len());
            let window: Vec<&str> = words[from..to].iter().map(|(_, w)| *w).collect();
            let p = self.intent_probabilities(&window.join(" "), lang)[Intent::Human.index()];
            p >= HUMAN_LIKELY
        })
    }

    /// Whether the sentence encoder sits under the classifiers.
    pub fn has_encoder(&self) -> bool {
        self.encoder.is_some()
    }

    /// Replaces the softmax temperature of intent probabilities (> 1 flattens, < 1 sharpens).
    pub fn with_temperature(mut self, temperature: f32) -> Self {
        self.temperature = temperature.clamp(0.05, 20.0);
        self
    }

    /// Analyses one turn.
    pub fn analyze(&self, text: &str, lang: Language) -> Analysis {
        let text: String = text.chars().take(MAX_CHARS).collect();
        let folded = text::fold(&text);
        let models = &self.langs[&lang];
        // Encoded once for every model that reads the sentence vector.
        let dense = self.embed(&text);
        let [x, xs] = features(&models.hasher, &text, dense.as_deref());
        let probs = temper(&models.intent.probabilities(&x), self.temperature);
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_by(|a, b| probs[*b].total_cmp(&probs[*a]));
        let mut intent = Intent::ALL[order[0]];
        let mut runner_up = Intent::ALL[order[1]];
        let mut confidence = probs[order[0]];
        let mut margin = probs[order[0]] - probs[order[1]];

        let injection = intent::is_injection(&folded);
        let asked_for_human = !injection
            && (intent::asks_for_human(&folded)
                || self.wants_person(&folded, lang, probs[Intent::Human.index()]));
        if intent == Intent::Human && !asked_for_human && !intent::mentions_person(&folded) {
            // "Yes please." scores as `human` (the examples are full of "please"): with no
            // person named, it is not a request for one; the runner-up stands, unsure.
            intent = runner_up;
            runner_up = Intent::Human;
            confidence = probs[order[1]];
            margin = 0.0;
        }
        let ruled = if injection {
            Some(Intent::OutOfScope)
        } else if asked_for_human {
            Some(Intent::Human)
        } else {
            None
        };
        if let Some(rule) = ruled {
            if rule != intent {
                runner_up = intent;
            }
            intent = rule;
            // A rule match is near-certain; keep the model's view in the margin.
            confidence = confidence.max(0.95);
            margin = margin.max(0.9);
        }
        if intent == Intent::OrderStatus && intent::says_late(&folded) {
            // "Where is it? It was supposed to be here on the 6th": late is a problem.
            runner_up = Intent::OrderStatus;
            intent = Intent::DeliveryProblem;
            margin = 0.0;
        }
        if folded.trim().is_empty() {
            intent = Intent::OutOfScope;
            confidence = 0.0;
            margin = 0.0;
        }

        let lexicon_score = models.scorer.score(&text);
        let ps = models.sentiment.probabilities(&xs);
        let sentiment = self.blend.combine(lexicon_score, ps[2] - ps[0]);

        Analysis {
            intent,
            confidence,
            runner_up,
            margin,
            slots: slots::extract(&text),
            sentiment,
            injection,
            sensitive_topic: sensitive::detect(&folded)
                .or_else(|| self.sensitive.topic_embedded(&text, lang, dense.as_deref())),
            asked_for_human,
        }
    }
}
