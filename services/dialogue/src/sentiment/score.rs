//! Rule-based scoring of one turn with a lexicon, in the manner of VADER: negation flips and damps
//! a word, boosters and "but" reweigh it, exclamation marks and shouted words amplify the sum.
//! Support talk needs more: politeness ("please", "grazie", "va bene") is not praise, complaints
//! often carry no sentiment word ("still not here", "ancora niente"), and "oh great, another
//! automated message" is sarcasm.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;

use super::lexicon::Lexicon;
use crate::{text, Language};

/// A cue phrase with its valence.
#[derive(Debug, Clone)]
struct Cue {
    words: Vec<String>,
    valence: f32,
    bang: bool,
}

/// Scores turns of one language.
#[derive(Debug, Clone)]
pub struct LexiconScorer {
    lang: Language,
    lexicon: Lexicon,
    cues: Vec<Cue>,
}

const NEGATORS_EN: &[&str] = &[
    "not", "no", "never", "without", "nothing", "nobody", "none", "neither", "nor", "cannot",
];
const NEGATORS_IT: &[&str] = &[
    "non", "no", "mai", "senza", "niente", "nessuno", "nessuna", "ne", "nemmeno", "neanche",
];
const BOOSTERS: &[&str] = &[
    "very",
    "really",
    "so",
    "extremely",
    "totally",
    "absolutely",
    "completely",
    "truly",
    "too",
    "incredibly",
    "molto",
    "davvero",
    "proprio",
    "troppo",
    "veramente",
    "tanto",
    "assolutamente",
    "completamente",
    "super",
    "estremamente",
];
const DAMPENERS: &[&str] = &[
    "slightly",
    "bit",
    "somewhat",
    "kinda",
    "quite",
    "po",
    "abbastanza",
    "leggermente",
];
const BUT: &[&str] = &["but", "however", "ma", "pero"];

/// Words that are courtesy or shop vocabulary here, not sentiment.
const NEUTRAL_EN: &[&str] = &[
    "please",
    "pls",
    "plz",
    "thanks",
    "thank",
    "thx",
    "cheers",
    "kindly",
    "ok",
    "okay",
    "yes",
    "yeah",
    "hello",
    "hi",
    "hey",
    "help",
    "helping",
    "welcome",
    "hope",
    "well",
    "fine",
    "free",
    "warm",
    "warmer",
    "warmest",
    "cold",
    "light",
    "want",
    "wish",
    "sure",
    "pretty",
    "care",
    "big",
    "bigger",
    "small",
    "smaller",
    "true",
    "right",
    "best",
    "yes",
    "important",
    "ready",
    "gift",
    "greetings",
    "lol",
    "interested",
    "interest",
    "easy",
    "save",
    "clean",
    "safe",
    "fit",
    "fits",
    "recommend",
    "suggest",
    "no",
    "kind",
    "like",
    "likes",
];
const NEUTRAL_IT: &[&str] = &[
    "grazie",
    "prego",
    "favore",
    "cortesia",
    "gentilmente",
    "ok",
    "okay",
    "si",
    "salve",
    "ciao",
    "aiuto",
    "aiutare",
    "certo",
    "caldo",
    "calda",
    "caldi",
    "freddo",
    "fredda",
    "leggero",
    "leggera",
    "vorrei",
    "buongiorno",
    "buonasera",
    "voglio",
    "grande",
    "piccolo",
    "piccola",
    "vero",
    "giusto",
    "giusta",
    "regalo",
    "nuovo",
    "nuova",
    "prima",
    "solo",
    "interessa",
    "possibile",
    "buon",
    "bene",
    "meglio",
    "migliore",
    "migliori",
    "sicuro",
    "libero",
    "pronto",
    "no",
    "consigliare",
    "consigliate",
    "consiglia",
    "stare",
    "stanno",
    "sta",
];

/// Greetings and thanks: neutral alone, warm when exclaimed ("Thanks!", "Ciao!").
const COURTESY: &[&str] = &[
    "thanks",
    "thank",
    "hi",
    "hello",
    "hey",
    "bye",
    "cheers",
    "grazie",
    "ciao",
    "salve",
    "arrivederci",
    "buongiorno",
    "buonasera",
];

impl LexiconScorer {
    /// A scorer for `lang` with its lexicon and the built-in cue phrases.
    pub fn new(lang: Language, lexicon: Lexicon) -> Self {
        let tag = lang.code();
        let cues = include_str!("../../data/sentiment_cues.txt")
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let mut p = l.splitn(3, '|');
                let (Some(lang), Some(v), Some(phrase)) = (p.next(), p.next(), p.next()) else {
                    return None;
                };
                let valence = v.trim().parse().ok()?;
                (lang == tag).then(|| Cue {
                    words: phrase
                        .split_whitespace()
                        .map(|w| w.trim_end_matches('!').to_owned())
                        .collect(),
                    valence,
                    bang: phrase.ends_with('!'),
                })
            })
            .collect();
        LexiconScorer {
            lang,
            lexicon,
            cues,
        }
    }

    /// VADER-style compound score of one turn, in [-1, 1].
    pub fn score(&self, raw: &str) -> f32 {
        let normalized = text::normalize(raw)
            .replace("n't", " not")
            .replace("n' t", " not");
        let tokens = text::words(&normalized);
        let folded: Vec<String> = tokens.iter().map(|t| text::fold(t)).collect();
        let (negators, neutral) = match self.lang {
            Language::En => (NEGATORS_EN, NEUTRAL_EN),
            Language::It => (NEGATORS_IT, NEUTRAL_IT),
        };
        let covered = self.cue_cover(&folded);
        let but_at = folded.iter().position(|w| BUT.contains(&w.as_str()));
        let shouting = raw.chars().any(|c| c.is_lowercase());
        let original: Vec<&str> = raw
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let caps: HashSet<String> = original
            .iter()
            .filter(|w| {
                shouting
                    && w.chars().count() >= 3
                    && w.chars().all(|c| !c.is_lowercase())
                    && w.chars().any(|c| c.is_alphabetic())
            })
            .map(|w| text::fold(w))
            .collect();

        let mut sum = 0.0f32;
        let mut positive_words = 0;
        for (i, tok) in tokens.iter().enumerate() {
            let f = &folded[i];
            if f.chars().count() < 2
                || covered[i]
                || neutral.contains(&f.as_str())
                || self.is_courtesy(&folded, i)
            {
                continue;
            }
            let Some(mut v) = self.lexicon.get(tok).or_else(|| self.lexicon.get(f)) else {
                continue;
            };
            if i > 0 && BOOSTERS.contains(&folded[i - 1].as_str()) {
                v *= 1.3;
            } else if i > 0 && DAMPENERS.contains(&folded[i - 1].as_str()) {
                v *= 0.7;
            }
            if caps.contains(f) {
                v *= 1.3;
            }
            let start = i.saturating_sub(3);
            if folded[start..i]
                .iter()
                .any(|w| negators.contains(&w.as_str()))
            {
                v *= -0.6;
            }
            if let Some(b) = but_at {
                v *= if i < b {
                    0.5
                } else if i > b {
                    1.5
                } else {
                    1.0
                };
            }
            if v > 0.0 {
                positive_words += 1;
            }
            sum += v;
        }
        for cue in self.matched_cues(&folded) {
            let listed = cue.words.len() == 1 && self.lexicon.get(&cue.words[0]).is_some();
            if (!cue.bang || raw.contains('!')) && !listed {
                sum += cue.valence;
            }
        }
        if raw.contains('!') && sum >= 0.0 && folded.iter().any(|w| COURTESY.contains(&w.as_str()))
        {
            sum += 1.0;
        }
        if positive_words > 0 && is_sarcastic(&folded.join(" ")) {
            sum = -sum.abs() - 1.5;
        }
        let bangs = raw.matches('!').count().min(4) as f32;
        if sum != 0.0 {
            sum += sum.signum() * bangs * 0.292;
        }
        sum / (sum * sum + 15.0).sqrt()
    }

    /// Politeness spans: "good morning", "I'd like", "va bene", "per favore".
    fn is_courtesy(&self, folded: &[String], i: usize) -> bool {
        let w = folded[i].as_str();
        let prev = i.checked_sub(1).map(|p| folded[p].as_str()).unwrap_or("");
        let next = folded.get(i + 1).map(String::as_str).unwrap_or("");
        match self.lang {
            Language::En => {
                (w == "good"
                    && matches!(next, "morning" | "afternoon" | "evening" | "day" | "night"))
                    || (w == "like"
                        && matches!(
                            prev,
                            "d" | "would"
                                | "look"
                                | "looks"
                                | "feel"
                                | "just"
                                | "more"
                                | "something"
                        ))
                    || (w == "nice" && matches!(next, "day" | "evening" | "weekend"))
            }
            Language::It => {
                (w == "bene" && matches!(prev, "va" | "andrebbe"))
                    || matches!(prev, "buona" | "buon")
                        && matches!(w, "giornata" | "serata" | "pomeriggio")
            }
        }
    }

    fn cue_cover(&self, folded: &[String]) -> Vec<bool> {
        let mut covered = vec![false; folded.len()];
        for cue in self.cues.iter().filter(|c| c.words.len() > 1) {
            for start in find_all(folded, &cue.words) {
                for c in covered.iter_mut().skip(start).take(cue.words.len()) {
                    *c = true;
                }
            }
        }
        covered
    }

    fn matched_cues<'a>(&'a self, folded: &'a [String]) -> impl Iterator<Item = &'a Cue> + 'a {
        // Longer phrases first; a word already counted by a longer cue is not counted again.
        let mut used = vec![false; folded.len()];
        let mut cues: Vec<&Cue> = self.cues.iter().collect();
        cues.sort_by_key(|c| std::cmp::Reverse(c.words.len()));
        let mut out = Vec::new();
        for cue in cues {
            for start in find_all(folded, &cue.words) {
                let span = start..start + cue.words.len();
                if used[span.clone()].iter().any(|u| *u) {
                    continue;
                }
                used[span].iter_mut().for_each(|u| *u = true);
                out.push(cue);
            }
        }
        out.into_iter()
    }
}

fn find_all(words: &[String], phrase: &[String]) -> Vec<usize> {
    if phrase.is_empty() || words.len() < phrase.len() {
        return Vec::new();
    }
    (0..=words.len() - phrase.len())
        .filter(|&s| {
            words[s..s + phrase.len()]
                .iter()
                .zip(phrase)
                .all(|(a, b)| a == b)
        })
        .collect()
}

/// "oh great, another ...", "sure, wonderful service": praise used to complain.
fn is_sarcastic(folded: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(?:oh|ah|wow|yeah|sure|certo|bravi|bravo|ah si|eh gia|ma certo)\b.{0,25}\b(?:another|yet another|un altro|un'altra|l ennesim\w*|ennesim\w*|again|ancora una volta)\b|\b(?:yet another|l ennesim\w*|ennesim\w*)\b|^(?:\w+ )?(?:perfect|great|wonderful|brilliant|fantastic|lovely|super|perfetto|fantastico|ottimo|magnifico|benissimo|splendido|meraviglioso)\b.{0,20}\b(?:another|again|un altro|un altra|di nuovo|ancora)\b|\b(?:just|really|proprio|davvero) (?:perfect|great|wonderful|brilliant|fantastic)\b\W*$")
            .unwrap_or_else(|e| panic!("bad sarcasm pattern: {e}"))
    })
    .is_match(folded)
}
