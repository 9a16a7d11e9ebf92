//! What Parla can say about the shop itself (`prompts/shop.yaml`): opening hours, shops,
//! delivery, payment, the return policy and the like. A store-information question is matched to
//! a topic by the words customers use for it; the answer is the shop's own text, which is also
//! what the grounding check allows the reply to state.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::{text, DialogueError, Language};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShopFile {
    topics: BTreeMap<String, TopicFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicFile {
    cues: PerLanguage<Vec<String>>,
    answer: PerLanguage<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PerLanguage<T> {
    en: T,
    it: T,
}

impl<T> PerLanguage<T> {
    fn get(&self, lang: Language) -> &T {
        match lang {
            Language::En => &self.en,
            Language::It => &self.it,
        }
    }
}

/// One topic: its cues (folded word sequences) and answers.
#[derive(Debug, Clone)]
struct Topic {
    name: String,
    cues: [Vec<Vec<String>>; 2],
    answers: [String; 2],
}

fn slot(lang: Language) -> usize {
    match lang {
        Language::En => 0,
        Language::It => 1,
    }
}

/// The shop's information, by topic.
#[derive(Debug, Clone, Default)]
pub struct ShopInfo {
    topics: Vec<Topic>,
}

/// The answer to a store-information question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShopAnswer<'a> {
    /// Topic name, e.g. `hours`.
    pub topic: &'a str,
    /// The shop's answer in the turn's language.
    pub text: &'a str,
}

impl ShopInfo {
    /// The information shipped in `prompts/shop.yaml`, built into the binary.
    pub fn shipped() -> Result<Self, DialogueError> {
        Self::parse(
            include_str!("../../../prompts/shop.yaml"),
            Path::new("prompts/shop.yaml (built in)"),
        )
    }

    /// Reads a shop file (`shop.yaml` in a prompts directory).
    pub fn load(path: &Path) -> Result<Self, DialogueError> {
        let text = std::fs::read_to_string(path).map_err(|e| DialogueError::Resource {
            path: path.to_path_buf(),
            reason: format!("{e} (copy prompts/shop.yaml there and edit it for your shop)"),
        })?;
        Self::parse(&text, path)
    }

    fn parse(text: &str, path: &Path) -> Result<Self, DialogueError> {
        let file: ShopFile = serde_yaml::from_str(text).map_err(|e| DialogueError::Resource {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let topics = file
            .topics
            .into_iter()
            .map(|(name, t)| {
                let cues = [Language::En, Language::It].map(|lang| {
                    t.cues
                        .get(lang)
                        .iter()
                        .map(|c| fold_words(c))
                        .filter(|w| !w.is_empty())
                        .collect()
                });
                let answers = [Language::En, Language::It].map(|lang| t.answer.get(lang).clone());
                Topic {
                    name,
                    cues,
                    answers,
                }
            })
            .collect();
        Ok(ShopInfo { topics })
    }

    /// The topic a question is about: the one with the most (and longest) cues in it; `None`
    /// when no cue matches.
    pub fn answer(&self, question: &str, lang: Language) -> Option<ShopAnswer<'_>> {
        let words = fold_words(question);
        let mut best: Option<(usize, &Topic)> = None;
        for topic in &self.topics {
            let score: usize = topic.cues[slot(lang)]
                .iter()
                .filter(|cue| contains_run(&words, cue))
                .map(Vec::len)
                .sum();
            if score > 0 && best.is_none_or(|(s, _)| score > s) {
                best = Some((score, topic));
            }
        }
        best.map(|(_, t)| ShopAnswer {
            topic: &t.name,
            text: &t.answers[slot(lang)],
        })
    }

    /// Every answer in a language (the facts a reply about the shop may state).
    pub fn answers(&self, lang: Language) -> impl Iterator<Item = &str> {
        self.topics
            .iter()
            .map(move |t| t.answers[slot(lang)].as_str())
    }
}

fn fold_words(text: &str) -> Vec<String> {
    let folded = text::fold(text);
    text::words(&folded)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// `cue` appears in `words` as consecutive words, each cue word starting a text word ("deliver"
/// matches "delivered").
fn contains_run(words: &[String], cue: &[String]) -> bool {
    if cue.is_empty() || cue.len() > words.len() {
        return false;
    }
    words.windows(cue.len()).any(|w| {
        w.iter().zip(cue).all(|(word, c)| {
            if c.len() <= 3 {
                word == c
            } else {
                word.starts_with(c.as_str())
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_find_their_topic_in_both_languages() {
        let shop = ShopInfo::shipped().expect("shipped shop file");
        let cases = [
            ("are you open on sunday?", Language::En, "hours"),
            (
                "how much does express shipping cost",
                Language::En,
                "delivery",
            ),
            ("can I pay with paypal", Language::En, "payment"),
            (
                "how many days do I have to send it back",
                Language::En,
                "return_policy",
            ),
            (
                "a che ora chiude il negozio di sabato",
                Language::It,
                "hours",
            ),
            (
                "quanto costa la spedizione in Svizzera",
                Language::It,
                "delivery",
            ),
            ("si può pagare a rate?", Language::It, "payment"),
            (
                "avete un negozio a Torino? qual è l'indirizzo",
                Language::It,
                "shops",
            ),
        ];
        for (q, lang, want) in cases {
            let got = shop.answer(q, lang).map(|a| a.topic);
            assert_eq!(got, Some(want), "{q}");
        }
        assert_eq!(shop.answer("tell me a joke", Language::En), None);
    }

    #[test]
    fn answers_are_in_the_turn_language() {
        let shop = ShopInfo::shipped().expect("shipped shop file");
        let it = shop
            .answer("orari di apertura", Language::It)
            .expect("hours");
        assert!(it.text.contains("domenica"), "{}", it.text);
        assert_eq!(shop.answers(Language::En).count(), shop.topics.len());
    }
}
