//! Intent classification: a per-language linear model over character n-grams and words, trained
//! at load time on Parla's own examples (`data/intents_*.txt`), with high-precision rules on top
//! for requests for a person and for prompt injection.

mod features;
mod model;
mod rules;

pub use features::{FeatureHasher, SparseVec};
pub use model::{LinearModel, Prediction, TrainOptions};
pub use rules::{asks_for_human, is_injection, mentions_person, person_mentions, says_late};

use serde::{Deserialize, Serialize};

use crate::Language;

/// What the customer wants from this turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Return, exchange or refund of a purchase.
    Return,
    /// Where an order is, when it arrives.
    OrderStatus,
    /// A delivery went wrong: late, lost, damaged, wrong item.
    DeliveryProblem,
    /// Help choosing a product, sizes, materials.
    ProductAdvice,
    /// Dissatisfaction with the service or the company.
    Complaint,
    /// The customer asks for a person.
    Human,
    /// Opening hours, shipping, policies, shops.
    StoreInfo,
    /// Hello.
    Greeting,
    /// Goodbye, thanks, done.
    Goodbye,
    /// Anything outside the shop's support (including attempts to change Parla's rules).
    OutOfScope,
}

impl Intent {
    /// Every intent, in a fixed order (the class index of the models).
    pub const ALL: [Intent; 10] = [
        Intent::Return,
        Intent::OrderStatus,
        Intent::DeliveryProblem,
        Intent::ProductAdvice,
        Intent::Complaint,
        Intent::Human,
        Intent::StoreInfo,
        Intent::Greeting,
        Intent::Goodbye,
        Intent::OutOfScope,
    ];

    /// The snake_case name used in data files, templates and the evaluation set.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Return => "return",
            Intent::OrderStatus => "order_status",
            Intent::DeliveryProblem => "delivery_problem",
            Intent::ProductAdvice => "product_advice",
            Intent::Complaint => "complaint",
            Intent::Human => "human",
            Intent::StoreInfo => "store_info",
            Intent::Greeting => "greeting",
            Intent::Goodbye => "goodbye",
            Intent::OutOfScope => "out_of_scope",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(name: &str) -> Option<Intent> {
        Intent::ALL.into_iter().find(|i| i.as_str() == name)
    }

    /// Index in [`Intent::ALL`].
    pub fn index(self) -> usize {
        Intent::ALL.iter().position(|i| *i == self).unwrap_or(0)
    }
}

impl std::fmt::Display for Intent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One labelled example line of a data file.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Language of the file.
    pub lang: Language,
    /// Intent label.
    pub intent: Intent,
    /// Sentiment label: -1 negative, 0 neutral, 1 positive.
    pub sentiment: i8,
    /// The utterance.
    pub text: String,
}

/// The three `|`-separated fields of each line of a data file, with its 1-based number
/// (`#` comments and blank lines skipped); `shape` names the fields for the error.
pub fn data_lines<'a>(
    data: &'a str,
    shape: &'a str,
) -> impl Iterator<Item = Result<(usize, [&'a str; 3]), String>> + 'a {
    data.lines()
        .enumerate()
        .map(|(n, line)| (n + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(move |(n, line)| {
            let mut parts = line.splitn(3, '|');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), Some(c)) => Ok((n, [a.trim(), b.trim(), c.trim()])),
                _ => Err(format!("line {n}: expected {shape}")),
            }
        })
}

/// Parses `intent|sentiment|text` lines (`#` comments and blank lines skipped).
pub fn parse_examples(lang: Language, data: &str) -> Result<Vec<Example>, String> {
    let mut out = Vec::new();
    for line in data_lines(data, "intent|sentiment|text") {
        let (n, [intent, sentiment, text]) = line?;
        let intent =
            Intent::parse(intent).ok_or_else(|| format!("line {n}: unknown intent `{intent}`"))?;
        let sentiment = match sentiment {
            "neg" => -1,
            "neu" => 0,
            "pos" => 1,
            other => return Err(format!("line {n}: unknown sentiment `{other}`")),
        };
        out.push(Example {
            lang,
            intent,
            sentiment,
            text: text.to_owned(),
        });
    }
    Ok(out)
}

/// The built-in training examples of a language.
pub fn builtin_examples(lang: Language) -> Vec<Example> {
    let data = match lang {
        Language::En => include_str!("../../data/intents_en.txt"),
        Language::It => include_str!("../../data/intents_it.txt"),
    };
    // The data files are part of the crate and checked by its tests.
    parse_examples(lang, data).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::Intent;

    /// Flow files are checked against `parla_flows::names::INTENTS`: a trigger the
    /// understanding never gives is a load error, so both lists must name the same intents.
    #[test]
    fn flows_know_the_same_intents() {
        let ours: Vec<&str> = Intent::ALL.iter().map(|i| i.as_str()).collect();
        assert_eq!(ours, parla_flows::names::INTENTS);
    }
}
