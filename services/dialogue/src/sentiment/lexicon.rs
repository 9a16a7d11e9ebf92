//! Sentiment lexicons shipped by registry packages: VADER's `vader_lexicon.txt` (English, mean
//! valence in -4..4) and Pattern's `it-sentiment.xml` (Italian, polarity in -1..1, several senses
//! per form). Both are loaded into one word → valence map on VADER's -4..4 scale.

use std::collections::HashMap;
use std::path::Path;

use regex::Regex;

use crate::DialogueError;

/// Word valences on VADER's scale (-4 very negative .. 4 very positive).
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    words: HashMap<String, f32>,
}

/// Pattern's polarities cluster near ±0.5; this maps them onto VADER's range.
const PATTERN_SCALE: f32 = 3.0;

impl Lexicon {
    /// Parses VADER's tab-separated lexicon (`token<TAB>mean<TAB>sd<TAB>ratings`).
    pub fn parse_vader(text: &str) -> Result<Self, String> {
        let mut words = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let mut cols = line.split('\t');
            let (Some(word), Some(mean)) = (cols.next(), cols.next()) else {
                continue;
            };
            let mean: f32 = mean
                .trim()
                .parse()
                .map_err(|_| format!("line {}: bad valence `{mean}`", n + 1))?;
            words.insert(word.trim().to_lowercase(), mean);
        }
        if words.len() < 1000 {
            return Err(format!("only {} entries: not a VADER lexicon", words.len()));
        }
        Ok(Lexicon { words })
    }

    /// Parses Pattern's XML lexicon; the senses of a form are averaged.
    pub fn parse_pattern_xml(text: &str) -> Result<Self, String> {
        let word = Regex::new(r#"<word\s[^>]*?form="([^"]+)"[^>]*?polarity="(-?[0-9.]+)""#)
            .map_err(|e| e.to_string())?;
        let mut sums: HashMap<String, (f32, u32)> = HashMap::new();
        for cap in word.captures_iter(text) {
            let Ok(p) = cap[2].parse::<f32>() else {
                continue;
            };
            let e = sums.entry(cap[1].to_lowercase()).or_insert((0.0, 0));
            e.0 += p;
            e.1 += 1;
        }
        if sums.len() < 1000 {
            return Err(format!(
                "only {} entries: not a Pattern lexicon",
                sums.len()
            ));
        }
        let words = sums
            .into_iter()
            .map(|(w, (s, n))| (w, s / n as f32 * PATTERN_SCALE))
            .collect();
        Ok(Lexicon { words })
    }

    /// Loads a VADER lexicon file.
    pub fn load_vader(path: &Path) -> Result<Self, DialogueError> {
        let text = read(path)?;
        Self::parse_vader(&text).map_err(|reason| DialogueError::Resource {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Loads a Pattern XML lexicon file.
    pub fn load_pattern_xml(path: &Path) -> Result<Self, DialogueError> {
        let text = read(path)?;
        Self::parse_pattern_xml(&text).map_err(|reason| DialogueError::Resource {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Valence of a lower-case word, if listed.
    pub fn get(&self, word: &str) -> Option<f32> {
        self.words.get(word).copied()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

fn read(path: &Path) -> Result<String, DialogueError> {
    std::fs::read_to_string(path).map_err(|e| DialogueError::Resource {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
