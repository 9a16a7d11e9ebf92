//! The sensitive-topic classifier: a linear model over the same TF-IDF features as the intent
//! model, per language, trained at load on `data/sensitive.txt` (the topics and their near
//! misses) plus the intent examples of intents that carry no sensitive situation (greetings,
//! order and product questions, shop questions, small talk) as more `none`.

use std::collections::HashMap;
use std::sync::Arc;

use super::SensitiveTopic;
use crate::encoder::{Encoder, DIMENSIONS};
use crate::intent::{Example, FeatureHasher, LinearModel, SparseVec, TrainOptions};
use crate::{Intent, Language};

/// One topic-labelled line (`None`: not sensitive).
#[derive(Debug, Clone, PartialEq)]
pub struct SensitiveExample {
    /// Language.
    pub lang: Language,
    /// The topic, or `None` for a near miss.
    pub topic: Option<SensitiveTopic>,
    /// The line.
    pub text: String,
}

/// Parses `lang|topic|text` lines (`#` comments and blank lines skipped).
pub fn parse(data: &str) -> Result<Vec<SensitiveExample>, String> {
    let mut out = Vec::new();
    for line in crate::intent::data_lines(data, "lang|topic|text") {
        let (n, [lang, topic, text]) = line?;
        let lang =
            Language::parse(lang).ok_or_else(|| format!("line {n}: unknown language `{lang}`"))?;
        let topic = match topic {
            "none" => None,
            t => Some(
                SensitiveTopic::parse(t).ok_or_else(|| format!("line {n}: unknown topic `{t}`"))?,
            ),
        };
        out.push(SensitiveExample {
            lang,
            topic,
            text: text.to_owned(),
        });
    }
    Ok(out)
}

/// The shipped topic-labelled lines.
pub fn builtin() -> Vec<SensitiveExample> {
    // The data file is part of the crate and checked by its tests.
    parse(include_str!("../../data/sensitive.txt")).unwrap_or_default()
}

/// Intents whose examples are ordinary requests: more `none` for the classifier. Returns,
/// complaints, delivery problems and requests for a person may carry a sensitive situation.
const ORDINARY: [Intent; 6] = [
    Intent::Greeting,
    Intent::Goodbye,
    Intent::OrderStatus,
    Intent::ProductAdvice,
    Intent::StoreInfo,
    Intent::OutOfScope,
];

const BITS: u32 = 15;

/// Probability of "sensitive" above which the classifier names a topic. On the development set
/// (`tests/eval-dev`, 116 turns), with the sentence encoder, all 8 turns that need a person for a
/// sensitive reason score 0.83 or more and 2 of the other 108 do (a snapped tent pole, a
/// complaint that is handed off for its anger anyway); n-grams alone gave 0.62 and 0.59–0.77.
pub const DEFAULT_THRESHOLD: f32 = 0.8;

/// Weight of the sentence encoder's vector beside the n-grams, when there is an encoder.
const DENSE_WEIGHT: f32 = 1.0;

/// Topic classifiers for English and Italian.
#[derive(Debug, Clone)]
pub struct SensitiveModel {
    langs: HashMap<Language, (FeatureHasher, LinearModel)>,
    threshold: f32,
    encoder: Option<Arc<Encoder>>,
}

fn features(hasher: &FeatureHasher, text: &str, dense: Option<&[f32]>) -> SparseVec {
    let mut x = hasher.transform(text);
    if let Some(v) = dense {
        hasher.append_dense(&mut x, v, DENSE_WEIGHT);
    }
    x
}

impl SensitiveModel {
    /// Trains on topic lines and the ordinary intent examples.
    pub fn train(lines: &[SensitiveExample], intents: &[Example]) -> Self {
        Self::train_with(lines, intents, None)
    }

    /// Trains on topic lines and the ordinary intent examples, with the sentence encoder's
    /// vectors beside the n-grams when given.
    pub fn train_with(
        lines: &[SensitiveExample],
        intents: &[Example],
        encoder: Option<Arc<Encoder>>,
    ) -> Self {
        let mut encoder = encoder;
        let mut langs = HashMap::new();
        for lang in [Language::En, Language::It] {
            let mut data: Vec<(&str, usize)> = lines
                .iter()
                .filter(|e| e.lang == lang)
                .map(|e| (e.text.as_str(), class(e.topic)))
                .collect();
            data.extend(
                intents
                    .iter()
                    .filter(|e| e.lang == lang && ORDINARY.contains(&e.intent))
                    .filter(|e| super::detect(&crate::text::fold(&e.text)).is_none())
                    .map(|e| (e.text.as_str(), 0)),
            );
            let hasher = FeatureHasher::fit(BITS, data.iter().map(|(t, _)| *t));
            let texts: Vec<&str> = data.iter().map(|(t, _)| *t).collect();
            let dense = encoder.as_ref().and_then(|e| match e.embed_examples(&texts) {
                Ok(v) => Some(v),
                Err(err) => {
                    tracing::warn!(error = %err, "sentence encoder failed on the topic lines; n-grams only");
                    None
                }
            });
            if dense.is_none() {
                encoder = None;
            }
            let vectors: Vec<_> = data
                .iter()
                .enumerate()
                .map(|(i, (t, c))| {
                    let d = dense.as_ref().map(|d| d[i].as_slice());
                    (features(&hasher, t, d), *c)
                })
                .collect();
            let dim = hasher.dim() + if dense.is_some() { DIMENSIONS } else { 0 };
            let model = LinearModel::train(
                SensitiveTopic::ALL.len() + 1,
                dim,
                &vectors,
                TrainOptions::default(),
            );
            langs.insert(lang, (hasher, model));
        }
        SensitiveModel {
            langs,
            threshold: DEFAULT_THRESHOLD,
            encoder,
        }
    }

    /// Trained on the shipped lines and intent examples.
    pub fn builtin(intents: &[Example]) -> Self {
        Self::train(&builtin(), intents)
    }

    /// Replaces the probability a topic needs.
    pub fn with_threshold(mut self, threshold: f32) -> Self {
        self.threshold = threshold.clamp(0.0, 1.0);
        self
    }

    /// The most likely topic and the probability that the line is sensitive at all (one minus
    /// the probability of `none`): the topics share the evidence ("a payment I never made" is
    /// both fraud and a bank matter), so their sum, not the best one alone, is compared.
    pub fn classify(&self, text: &str, lang: Language) -> (Option<SensitiveTopic>, f32) {
        let dense = self.encoder.as_ref().and_then(|e| e.embed(text).ok());
        self.classify_embedded(text, lang, dense.as_deref())
    }

    /// [`classify`](Self::classify) with the text's sentence vector already computed (the
    /// understanding encodes each turn once for all its models).
    pub fn classify_embedded(
        &self,
        text: &str,
        lang: Language,
        dense: Option<&[f32]>,
    ) -> (Option<SensitiveTopic>, f32) {
        let Some((hasher, model)) = self.langs.get(&lang) else {
            return (None, 0.0);
        };
        let dense = dense.filter(|_| self.encoder.is_some());
        let probs = model.probabilities(&features(hasher, text, dense));
        let sensitive = 1.0 - probs.first().copied().unwrap_or(1.0);
        let topic = probs
            .iter()
            .enumerate()
            .skip(1)
            .max_by(|a, b| a.1.total_cmp(b.1))
            .and_then(|(i, _)| SensitiveTopic::ALL.get(i - 1).copied());
        (topic, sensitive)
    }

    /// The topic when the classifier is sure enough of it.
    pub fn topic(&self, text: &str, lang: Language) -> Option<SensitiveTopic> {
        let dense = self.encoder.as_ref().and_then(|e| e.embed(text).ok());
        self.topic_embedded(text, lang, dense.as_deref())
    }

    /// [`topic`](Self::topic) with the text's sentence vector already computed.
    pub fn topic_embedded(
        &self,
        text: &str,
        lang: Language,
        dense: Option<&[f32]>,
    ) -> Option<SensitiveTopic> {
        match self.classify_embedded(text, lang, dense) {
            (Some(t), p) if p >= self.threshold => Some(t),
            _ => None,
        }
    }
}

fn class(topic: Option<SensitiveTopic>) -> usize {
    topic
        .and_then(|t| SensitiveTopic::ALL.iter().position(|x| *x == t))
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_file_parses_with_every_topic_in_both_languages() {
        let lines = parse(include_str!("../../data/sensitive.txt")).expect("valid data file");
        for lang in [Language::En, Language::It] {
            for topic in SensitiveTopic::ALL.map(Some).into_iter().chain([None]) {
                let n = lines
                    .iter()
                    .filter(|e| e.lang == lang && e.topic == topic)
                    .count();
                assert!(n >= 40, "{lang:?} {topic:?}: {n} lines");
            }
        }
    }

    #[test]
    fn cross_validated_topics_beat_chance_by_far() {
        // 5 folds by line: the model never sees the line it is asked about.
        let lines = builtin();
        let (mut right, mut total) = (0, 0);
        for fold in 0..5 {
            let train: Vec<_> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 5 != fold)
                .map(|(_, e)| e.clone())
                .collect();
            let model = SensitiveModel::train(&train, &[]);
            for (_, e) in lines.iter().enumerate().filter(|(i, _)| i % 5 == fold) {
                total += 1;
                right += usize::from(model.topic(&e.text, e.lang) == e.topic);
            }
        }
        let acc = right as f32 / total as f32;
        assert!(
            acc > 0.6,
            "cross-validated accuracy {acc:.2} ({right}/{total})"
        );
    }
}
