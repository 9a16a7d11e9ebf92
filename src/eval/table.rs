//! The evaluation's tallies and the table `parla eval` prints: one row per figure with its
//! target and whether it is met, the reliability table of the confidence, and the scenarios
//! that failed with why.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use parla_dialogue::confidence;
use parla_dialogue::grounding::Facts;
use parla_proto::v1::{HandoffReason, ReplyFinal, SentimentLabel, Tone};

use super::data::{Scenario, ScenarioTurn, Utterance};

/// Targets of `parla eval --check` (issue 16's table): every one must hold on `../shared/eval`
/// and on `tests/eval-sealed`.
const INTENT_TARGET: f64 = 92.0;
const SENTIMENT_TARGET: f64 = 85.0;
const PRECISION_TARGET: f64 = 90.0;
const TONE_TARGET: f64 = 95.0;
const SCENARIO_TARGET: f64 = 90.0;
const ECE_TARGET: f64 = 0.05;

/// Per-language accuracy tallies.
#[derive(Debug, Clone, Default)]
struct Accuracy {
    intent: (usize, usize),
    sentiment: (usize, usize),
}

/// A figure with a target.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Row name.
    pub name: String,
    /// Measured value (percent or count).
    pub value: f64,
    /// Whether it meets its target.
    pub met: bool,
}

/// Everything measured in one run.
#[derive(Debug, Default)]
pub struct Report {
    accuracy: BTreeMap<String, Accuracy>,
    calibration: Vec<(f32, bool)>,
    handoff: (usize, usize, usize),
    delivered_violations: Vec<String>,
    rejected_drafts: u64,
    model_phrased: (usize, usize),
    tone: (usize, usize),
    totals_ms: Vec<f64>,
    firsts_ms: Vec<f64>,
    scenarios: Vec<(String, Vec<String>)>,
    current: Vec<String>,
}

fn label(f: &ReplyFinal) -> String {
    let l = f.sentiment.as_ref().map_or(0, |s| s.label);
    SentimentLabel::try_from(l)
        .map(|l| {
            l.as_str_name()
                .trim_start_matches("SENTIMENT_LABEL_")
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

fn tone(f: &ReplyFinal) -> String {
    Tone::try_from(f.tone)
        .map(|t| {
            t.as_str_name()
                .trim_start_matches("TONE_")
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

fn handed_off(f: &ReplyFinal) -> bool {
    f.handoff.as_ref().is_some_and(|h| h.handoff)
}

fn intent(f: &ReplyFinal) -> &str {
    f.intent.as_ref().map_or("", |i| i.name.as_str())
}

impl Report {
    fn common(
        &mut self,
        lang: &str,
        f: &ReplyFinal,
        total: Duration,
        first: Duration,
        facts: &Facts,
    ) {
        self.totals_ms.push(total.as_secs_f64() * 1e3);
        self.firsts_ms.push(first.as_secs_f64() * 1e3);
        self.rejected_drafts += u64::from(f.rejected_replies);
        self.model_phrased.0 += 1;
        self.model_phrased.1 += usize::from(f.model_phrased);
        // Results of the turn's actions (an RMA or case id) and the flow's slots are facts too.
        let mut facts = facts.clone();
        for a in &f.actions {
            facts.allow_text(&a.result);
            for v in a.arguments.values() {
                facts.allow_text(v);
            }
        }
        for v in f.flow_state.iter().flat_map(|s| s.slots.values()) {
            facts.allow_text(v);
        }
        let bad = facts.check(&f.text);
        if !bad.is_empty() {
            self.delivered_violations
                .push(format!("[{lang}] {:?}: {}", f.text, bad.join(", ")));
        }
    }

    fn score(
        &mut self,
        lang: &str,
        f: &ReplyFinal,
        want_intent: Option<&str>,
        want_sentiment: Option<&str>,
    ) {
        let acc = self.accuracy.entry(lang.to_owned()).or_default();
        if let Some(want) = want_intent {
            let ok = intent(f) == want;
            acc.intent.0 += 1;
            acc.intent.1 += usize::from(ok);
            self.calibration.push((f.confidence, ok));
        }
        if let Some(want) = want_sentiment {
            acc.sentiment.0 += 1;
            acc.sentiment.1 += usize::from(label(f) == want);
        }
    }

    /// Records a labelled utterance's answer.
    pub fn utterance(
        &mut self,
        u: &Utterance,
        f: &ReplyFinal,
        total: Duration,
        first: Duration,
        facts: &Facts,
    ) {
        self.common(&u.lang, f, total, first, facts);
        self.score(&u.lang, f, Some(&u.intent), Some(&u.sentiment));
        if u.sentiment == "negative" {
            // A negative customer never gets the neutral (or upbeat) tone.
            self.tone.0 += 1;
            self.tone.1 += usize::from(!matches!(tone(f).as_str(), "neutral" | "upbeat"));
        }
        if u.intent == "human" {
            self.count_handoff(true, handed_off(f));
        }
    }

    fn count_handoff(&mut self, expected: bool, got: bool) {
        match (expected, got) {
            (true, true) => self.handoff.0 += 1,
            (false, true) => self.handoff.1 += 1,
            (true, false) => self.handoff.2 += 1,
            (false, false) => {}
        }
    }

    /// Records one scripted turn and checks its expectations.
    pub fn scenario_turn(
        &mut self,
        s: &Scenario,
        t: &ScenarioTurn,
        f: &ReplyFinal,
        total: Duration,
        first: Duration,
        facts: &Facts,
    ) {
        self.common(&s.language, f, total, first, facts);
        self.score(&s.language, f, t.intent.as_deref(), t.sentiment.as_deref());
        let say: String = t.say.chars().take(40).collect();
        let mut fail = |what: String| self.current.push(format!("{say:?}: {what}"));
        if let Some(want) = &t.intent {
            if intent(f) != want {
                fail(format!("intent {} ≠ {want}", intent(f)));
            }
        }
        if let Some(want) = &t.sentiment {
            if label(f) != *want {
                fail(format!("sentiment {} ≠ {want}", label(f)));
            }
        }
        let reply = f.text.to_lowercase();
        for want in &t.reply_contains {
            if !reply.contains(&want.to_lowercase()) {
                fail(format!("reply lacks {want:?}: {:?}", f.text));
            }
        }
        for bad in &t.reply_not_contains {
            if reply.contains(&bad.to_lowercase()) {
                fail(format!("reply contains {bad:?}"));
            }
        }
        if let Some(want) = &t.reason {
            let got = f.handoff.as_ref().map_or(0, |h| h.reason);
            let got = HandoffReason::try_from(got)
                .map(|r| {
                    r.as_str_name()
                        .trim_start_matches("HANDOFF_REASON_")
                        .to_ascii_lowercase()
                })
                .unwrap_or_default();
            if got != *want && handed_off(f) {
                fail(format!("hand-off reason {got} ≠ {want}"));
            }
        }
        let mut tone_ok = None;
        if let Some(want) = &t.tone {
            let got = tone(f);
            let ok = if want == "not_neutral" {
                got != "neutral"
            } else {
                got == *want
            };
            if !ok {
                fail(format!("tone {got} ≠ {want}"));
            }
            tone_ok = Some(ok);
        }
        let handoff_ok = t.handoff.map(|want| {
            if want != handed_off(f) {
                fail(format!("hand-off {} ≠ {want}", handed_off(f)));
            }
            (want, handed_off(f))
        });
        if let Some(ok) = tone_ok {
            self.tone.0 += 1;
            self.tone.1 += usize::from(ok);
        }
        if let Some((want, got)) = handoff_ok {
            self.count_handoff(want, got);
        }
    }

    /// Checks a scenario's outcome and closes it.
    pub fn scenario_end(&mut self, s: &Scenario, finals: &[ReplyFinal]) {
        let actions: Vec<&str> = finals
            .iter()
            .flat_map(|f| f.actions.iter().filter(|a| a.ok).map(|a| a.name.as_str()))
            .collect();
        for want in &s.outcome.actions {
            if !actions.contains(&want.as_str()) {
                self.current.push(format!("outcome: action {want} missing"));
            }
        }
        for bad in &s.outcome.no_actions {
            if actions.contains(&bad.as_str()) {
                self.current.push(format!("outcome: action {bad} happened"));
            }
        }
        if let Some(want) = s.outcome.handoff {
            let got = finals.iter().any(handed_off);
            if got != want {
                self.current
                    .push(format!("outcome: hand-off {got} ≠ {want}"));
            }
        }
        let failures = std::mem::take(&mut self.current);
        self.scenarios.push((s.name.clone(), failures));
    }

    /// The figures with targets, in table order.
    pub fn targets(&self) -> Vec<Target> {
        let pct = |(n, ok): (usize, usize)| 100.0 * ok as f64 / n.max(1) as f64;
        let mut out = Vec::new();
        for (lang, acc) in &self.accuracy {
            out.push(Target {
                name: format!("intent accuracy ({lang})"),
                value: pct(acc.intent),
                met: pct(acc.intent) >= INTENT_TARGET,
            });
        }
        for (lang, acc) in &self.accuracy {
            out.push(Target {
                name: format!("sentiment accuracy ({lang})"),
                value: pct(acc.sentiment),
                met: pct(acc.sentiment) >= SENTIMENT_TARGET,
            });
        }
        let (tp, fp, fneg) = self.handoff;
        let recall = pct((tp + fneg, tp));
        let precision = pct((tp + fp, tp));
        out.push(Target {
            name: "hand-off recall".into(),
            value: recall,
            met: recall >= 95.0,
        });
        out.push(Target {
            name: "hand-off precision".into(),
            value: precision,
            met: precision >= PRECISION_TARGET,
        });
        let v = self.delivered_violations.len() as f64;
        out.push(Target {
            name: "ungrounded facts delivered".into(),
            value: v,
            met: v == 0.0,
        });
        if self.tone.0 > 0 {
            let tone = pct(self.tone);
            out.push(Target {
                name: "tone appropriateness".into(),
                value: tone,
                met: tone >= TONE_TARGET,
            });
        }
        if !self.scenarios.is_empty() {
            let passed = self.scenarios.iter().filter(|(_, e)| e.is_empty()).count();
            let share = pct((self.scenarios.len(), passed));
            out.push(Target {
                name: "scenarios passed".into(),
                value: share,
                met: share >= SCENARIO_TARGET,
            });
        }
        if !self.calibration.is_empty() {
            let (_, ece) = confidence::reliability(&self.calibration, 5);
            out.push(Target {
                name: "confidence calibration error (ECE, 5 bins)".into(),
                value: f64::from(ece),
                met: f64::from(ece) <= ECE_TARGET,
            });
        }
        out
    }

    /// Whether every target is met.
    pub fn targets_met(&self) -> bool {
        self.targets().iter().all(|t| t.met)
    }
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(((v.len().max(1) - 1) as f64 * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |(n, ok): (usize, usize)| format!("{ok}/{n}");
        writeln!(f, "| figure | value | target | met |")?;
        writeln!(f, "|---|---|---|---|")?;
        for t in self.targets() {
            let (value, target) = match t.name.as_str() {
                x if x.starts_with("intent") => {
                    let lang = &x[x.len() - 3..x.len() - 1];
                    (
                        format!("{:.1} % ({})", t.value, n(self.accuracy[lang].intent)),
                        "≥ 92 %",
                    )
                }
                x if x.starts_with("sentiment") => {
                    let lang = &x[x.len() - 3..x.len() - 1];
                    (
                        format!("{:.1} % ({})", t.value, n(self.accuracy[lang].sentiment)),
                        "≥ 85 %",
                    )
                }
                "hand-off recall" => (
                    format!(
                        "{:.1} % ({})",
                        t.value,
                        n((self.handoff.0 + self.handoff.2, self.handoff.0))
                    ),
                    "≥ 95 %",
                ),
                "hand-off precision" => (
                    format!(
                        "{:.1} % ({})",
                        t.value,
                        n((self.handoff.0 + self.handoff.1, self.handoff.0))
                    ),
                    "≥ 90 %",
                ),
                "tone appropriateness" => {
                    (format!("{:.1} % ({})", t.value, n(self.tone)), "≥ 95 %")
                }
                "scenarios passed" => (
                    format!(
                        "{}/{}",
                        self.scenarios.iter().filter(|(_, e)| e.is_empty()).count(),
                        self.scenarios.len()
                    ),
                    "≥ 90 %",
                ),
                x if x.starts_with("confidence calibration") => {
                    (format!("{:.3}", t.value), "≤ 0.05")
                }
                _ => (format!("{}", t.value), "0"),
            };
            writeln!(
                f,
                "| {} | {value} | {target} | {} |",
                t.name,
                if t.met { "yes" } else { "NO" }
            )?;
        }
        writeln!(
            f,
            "| replies worded by the language model | {} | — | |",
            n(self.model_phrased)
        )?;
        writeln!(
            f,
            "| grounding: drafts rejected by the server | {} | — | |",
            self.rejected_drafts
        )?;
        writeln!(
            f,
            "| latency per turn p50 / p95 (final event) | {:.1} / {:.1} ms | — | |",
            percentile(&self.totals_ms, 0.5),
            percentile(&self.totals_ms, 0.95)
        )?;
        writeln!(
            f,
            "| latency per turn p50 / p95 (first reply text) | {:.1} / {:.1} ms | — | |",
            percentile(&self.firsts_ms, 0.5),
            percentile(&self.firsts_ms, 0.95)
        )?;
        let (bins, _) = confidence::reliability(&self.calibration, 5);
        writeln!(f, "\n| confidence | n | predicted | observed accuracy |")?;
        writeln!(f, "|---|---|---|---|")?;
        for b in bins.iter().filter(|b| b.count > 0) {
            writeln!(
                f,
                "| {:.1}–{:.1} | {} | {:.2} | {:.2} |",
                b.low, b.high, b.count, b.predicted, b.observed
            )?;
        }
        for (name, failures) in self.scenarios.iter().filter(|(_, e)| !e.is_empty()) {
            writeln!(f, "\nscenario {name} failed:")?;
            for e in failures {
                writeln!(f, "  - {e}")?;
            }
        }
        for v in &self.delivered_violations {
            writeln!(f, "\nungrounded reply delivered: {v}")?;
        }
        let missed: Vec<String> = self
            .targets()
            .into_iter()
            .filter(|t| !t.met)
            .map(|t| t.name)
            .collect();
        if missed.is_empty() {
            writeln!(f, "\ntargets: met")
        } else {
            writeln!(f, "\ntargets: missed: {}", missed.join(", "))
        }
    }
}
