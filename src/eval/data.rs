//! The evaluation files: `utterances.jsonl` (lang, text, intent, sentiment) and
//! `conversations/*.yaml` (a fixture, turns with expectations, an outcome), and the facts a
//! delivered reply may state in each (the scenario's records and the templates' own wording).

use std::path::{Path, PathBuf};

use parla_dialogue::grounding::Facts;
use parla_dialogue::{Language, Templates};
use serde::Deserialize;

/// One labelled utterance.
#[derive(Debug, Clone, Deserialize)]
pub struct Utterance {
    /// `en` or `it`.
    pub lang: String,
    /// What the customer says.
    pub text: String,
    /// Expected intent.
    pub intent: String,
    /// Expected sentiment label.
    pub sentiment: String,
}

/// One scripted conversation.
#[derive(Debug, Clone, Deserialize)]
pub struct Scenario {
    /// File stem, filled after parsing.
    #[serde(skip)]
    pub name: String,
    /// The file.
    #[serde(skip)]
    pub path: PathBuf,
    /// The whole file (its records are the facts a reply may state).
    #[serde(skip)]
    pub text: String,
    /// Customer id, from `customer.id`.
    #[serde(skip)]
    pub customer_id: String,
    /// What the weather provider answers for the customer's place (`None`: `unavailable`).
    #[serde(skip)]
    pub forecast: Option<super::weather::Forecast>,
    /// The day the conversation takes place (`YYYY-MM-DD`): its own server runs with
    /// `flows.today` set to it, so the figures do not move with the machine's clock.
    #[serde(default)]
    pub today: Option<String>,
    /// Language code.
    #[serde(default)]
    pub language: String,
    /// `voice` or `chat`.
    #[serde(default)]
    pub channel: String,
    /// What the customer says, with expectations.
    #[serde(default)]
    pub turns: Vec<ScenarioTurn>,
    /// What must hold at the end.
    #[serde(default)]
    pub outcome: Outcome,
}

/// One turn of a scenario.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ScenarioTurn {
    /// The customer's words.
    pub say: String,
    /// Expected intent.
    pub intent: Option<String>,
    /// Expected sentiment label.
    pub sentiment: Option<String>,
    /// Expected tone, or `not_neutral`.
    pub tone: Option<String>,
    /// Whether Parla must hand off at this turn.
    pub handoff: Option<bool>,
    /// Expected hand-off reason.
    pub reason: Option<String>,
    /// Strings the reply must contain (case-insensitive).
    pub reply_contains: Vec<String>,
    /// Strings the reply must not contain.
    pub reply_not_contains: Vec<String>,
}

/// A scenario's expected outcome.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Outcome {
    /// Actions that must have happened.
    pub actions: Vec<String>,
    /// Actions that must not have happened.
    pub no_actions: Vec<String>,
    /// Whether the conversation was handed off.
    pub handoff: Option<bool>,
}

/// The loaded set.
pub struct EvalSet {
    /// Utterances (maybe limited per language).
    pub utterances: Vec<Utterance>,
    /// Scenarios (maybe filtered).
    pub scenarios: Vec<Scenario>,
    templates: Templates,
    /// The shop's flows, whose wording and policy values a reply may state.
    flows: Option<parla_flows::FlowSet>,
}

impl EvalSet {
    /// Reads `dir`; `limit` keeps the first N utterances per language, `only` keeps scenarios
    /// whose file name contains one of its strings (all when empty).
    pub fn load(dir: &Path, limit: Option<usize>, only: &[String]) -> anyhow::Result<Self> {
        let path = dir.join("utterances.jsonl");
        // A set of conversations alone (no labelled lines) is a set too.
        let text = match std::fs::read_to_string(&path) {
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && dir.join("conversations").is_dir() =>
            {
                String::new()
            }
            r => r.map_err(|e| {
                anyhow::anyhow!("{}: {e} (give the directory with --data)", path.display())
            })?,
        };
        let mut utterances = Vec::new();
        let mut per_lang = std::collections::HashMap::<String, usize>::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let u: Utterance = serde_json::from_str(line)
                .map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), n + 1))?;
            let seen = per_lang.entry(u.lang.clone()).or_default();
            *seen += 1;
            if limit.is_none_or(|l| *seen <= l) {
                utterances.push(u);
            }
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("conversations"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
        files.sort();
        let mut scenarios = Vec::new();
        for file in files {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !only.is_empty() && !only.iter().any(|o| name.contains(o.as_str())) {
                continue;
            }
            let text = std::fs::read_to_string(&file)?;
            let mut s: Scenario = serde_yaml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let raw: serde_yaml::Value = serde_yaml::from_str(&text)?;
            s.customer_id = raw["customer"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            s.forecast = super::weather::Forecast::from_yaml(&raw["weather"]);
            if let Some(day) = &s.today {
                anyhow::ensure!(
                    parla_flows::facts::parse_day(day).is_some(),
                    "{}: today: {day:?} is not a date (write YYYY-MM-DD)",
                    file.display()
                );
            }
            s.name = name;
            s.path = file;
            s.text = text;
            scenarios.push(s);
        }
        Ok(EvalSet {
            utterances,
            scenarios,
            templates: Templates::shipped()?,
            flows: parla_flows::FlowSet::shipped().ok(),
        })
    }

    /// What a reply may state: every number, id and product of the scenario's records, and the
    /// literal wording of every template of the language.
    pub fn grounding(&self, scenario: Option<&Scenario>, lang: &str) -> Facts {
        let mut facts = Facts::new();
        let lang = Language::parse(lang).unwrap_or(Language::En);
        for step in self.templates.steps(lang) {
            for (_, _, wording) in self.templates.wordings(lang, step) {
                facts.allow_text(wording);
            }
        }
        for answer in self.templates.shop().answers(lang) {
            facts.allow_text(answer);
        }
        // The shop's own flows are facts too: their messages' wording and the policy values
        // the messages fill in ("within our {days}-day return window" with the configured 30).
        if let Some(flows) = &self.flows {
            for flow in flows.flows() {
                for message in flow.spec.messages.values() {
                    facts.allow_text(match lang {
                        Language::En => &message.en,
                        Language::It => &message.it,
                    });
                }
                let p = &flow.spec.policy;
                for value in [
                    p.return_window_days,
                    p.late_after_days,
                    p.handoff_after_days_late,
                ] {
                    facts.allow_text(&value.to_string());
                }
            }
        }
        if let Some(s) = scenario {
            let records = s.text.split("\nturns:").next().unwrap_or_default();
            facts.allow_text(records);
            // Days between a record's date and the scenario's day ("6 days late", "delivered
            // 12 days ago") are facts of the records too.
            let today = s
                .today
                .as_deref()
                .and_then(parla_flows::facts::parse_day)
                .unwrap_or_else(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() as i64)
                });
            for word in records.split(|c: char| !(c.is_ascii_digit() || c == '-')) {
                if let Some(day) = parla_flows::facts::parse_day(word) {
                    let days = (today - day).abs().div_euclid(86_400);
                    facts.allow_text(&days.to_string());
                }
            }
            let raw: serde_yaml::Value = serde_yaml::from_str(&s.text).unwrap_or_default();
            let mut names = Vec::new();
            for order in raw["orders"].as_sequence().into_iter().flatten() {
                for line in order["lines"].as_sequence().into_iter().flatten() {
                    names.extend(line["name"].as_str().map(str::to_owned));
                }
            }
            for product in raw["catalogue"].as_sequence().into_iter().flatten() {
                names.extend(product["name"].as_str().map(str::to_owned));
            }
            for name in names {
                facts.allow_product(&name);
            }
        }
        facts
    }
}
