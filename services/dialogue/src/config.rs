//! Settings of the dialogue manager: `[dialogue]` in `parla.toml`, with the tone table under
//! `[dialogue.tone]` and hand-off thresholds under `[dialogue.handoff]`.

use serde::{Deserialize, Serialize};

use parla_llm::{LlmBackend, OpenAiConfig};

use crate::{HandoffPolicy, TonePolicy};

/// Who words the replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Phrasing {
    /// The model phrases replies when it is capable (an `openai` backend, or a local model of
    /// at least 1 B parameters such as the quality profile); templates otherwise.
    #[default]
    Auto,
    /// Always the templates.
    Templates,
    /// The configured model phrases every reply (still grounding-checked).
    Model,
}

/// Settings of the dialogue manager (`[dialogue]` in `parla.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DialogueConfig {
    /// Language model: a provisioned model name or a path to a GGUF file (`candle` backend);
    /// empty for none (templates only, no tie-breaking).
    pub llm_model: String,
    /// `candle` (the GGUF file above, on this machine) or `openai` (`[dialogue.openai]`).
    pub llm_backend: LlmBackend,
    /// The OpenAI-compatible endpoint, when `llm_backend = "openai"`.
    pub openai: OpenAiConfig,
    /// Who words the replies: `auto`, `templates` or `model`.
    pub phrasing: Phrasing,
    /// Milliseconds the model's wording of a turn may take, all drafts, connecting and the
    /// wait for the response headers included; then the template reply is used.
    pub phrasing_budget_ms: u64,
    /// Directory of reply and prompt templates (`replies/<lang>.yaml` inside);
    /// empty for the templates shipped in `prompts/`, built into the binary.
    pub prompts_dir: String,
    /// Put the multilingual sentence encoder (`use-multilingual`) under the intent and
    /// sentiment classifiers; false: n-grams only (faster to start, less accurate).
    pub sentence_encoder: bool,
    /// Decay of older turns in the sentiment trend, in (0, 1].
    pub trend_decay: f32,
    /// How much of the conversation's mood a turn that says little on its own takes on, in
    /// [0, 1] ("fine." after two complaints is not neutral); 0 reads every turn alone.
    pub sentiment_context: f32,
    /// Milliseconds a spoken turn waits, from its arrival, before its actions (a return, a
    /// case, a tool call, a hand-off) run, so that a caller who goes on speaking can retract
    /// it (`Retract`) and no action is taken on half a sentence. The understanding runs in
    /// the meantime; 0: no wait. Callers go on within ~200 ms of the end of a fragment
    /// (ASR README, natural speech).
    pub voice_commit_ms: u64,
    /// Tone table.
    pub tone: TonePolicy,
    /// Hand-off thresholds.
    pub handoff: HandoffPolicy,
}

impl Default for DialogueConfig {
    fn default() -> Self {
        Self {
            llm_model: "smollm2-135m".to_owned(),
            llm_backend: LlmBackend::Candle,
            openai: OpenAiConfig::default(),
            phrasing: Phrasing::Auto,
            phrasing_budget_ms: 4_000,
            prompts_dir: String::new(),
            sentence_encoder: true,
            trend_decay: 0.7,
            sentiment_context: 0.3,
            voice_commit_ms: 300,
            tone: TonePolicy::default(),
            handoff: HandoffPolicy::default(),
        }
    }
}

/// A setting with a value outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSetting {
    /// Dotted key, e.g. `dialogue.handoff.min_confidence`.
    pub key: String,
    /// What is wrong and what is allowed.
    pub problem: String,
}

impl DialogueConfig {
    /// Checks value ranges; the error names the key and what is allowed.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let bad = |key: &str, value: f32, allowed: &str| InvalidSetting {
            key: format!("dialogue.{key}"),
            problem: format!("is {value}; allowed: {allowed}"),
        };
        let h = &self.handoff;
        if !(0.0..=1.0).contains(&self.sentiment_context) {
            return Err(bad(
                "sentiment_context",
                self.sentiment_context,
                "a number in [0, 1]",
            ));
        }
        if !(self.trend_decay > 0.0 && self.trend_decay <= 1.0) {
            return Err(bad("trend_decay", self.trend_decay, "a number in (0, 1]"));
        }
        if self.voice_commit_ms > 2_000 {
            return Err(InvalidSetting {
                key: "dialogue.voice_commit_ms".into(),
                problem: format!(
                    "is {}; allowed: 0 to 2000 (every spoken reply waits this long)",
                    self.voice_commit_ms
                ),
            });
        }
        if !(0.0..=1.0).contains(&h.min_confidence) {
            return Err(bad("handoff.min_confidence", h.min_confidence, "0 to 1"));
        }
        for (key, v) in [
            ("handoff.sentiment_floor", h.sentiment_floor),
            ("handoff.vip_unhappy_below", h.vip_unhappy_below),
        ] {
            if !(-1.0..=1.0).contains(&v) {
                return Err(bad(key, v, "-1 to 1"));
            }
        }
        if !(0.0..=2.0).contains(&h.sentiment_drop) {
            return Err(bad("handoff.sentiment_drop", h.sentiment_drop, "0 to 2"));
        }
        for (i, rule) in self.tone.rules.iter().enumerate() {
            if let Some(s) = rule.slope_below.filter(|s| !(-2.0..=2.0).contains(s)) {
                return Err(bad(&format!("tone.rules[{i}].slope_below"), s, "-2 to 2"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let c = DialogueConfig::default();
        let text = toml::to_string_pretty(&c).expect("serialize");
        let back: DialogueConfig = toml::from_str(&text).expect("parse back");
        assert_eq!(back, c);
        let custom: DialogueConfig = toml::from_str(
            "[handoff]\nmin_confidence = 0.5\n[[tone.rules]]\ntone = \"calm\"\nchannel = \"voice\"\n",
        )
        .expect("custom table");
        assert_eq!(custom.handoff.min_confidence, 0.5);
        assert_eq!(custom.tone.rules.len(), 1);
        assert_eq!(c.validate(), Ok(()));
        let mut bad = c.clone();
        bad.handoff.min_confidence = 1.5;
        assert_eq!(
            bad.validate().map_err(|e| e.key),
            Err("dialogue.handoff.min_confidence".to_owned())
        );
    }
}
