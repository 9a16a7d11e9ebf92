//! Loading flows: the shipped ones (built into the binary) or a developer's directory of
//! `*.yaml` files. Every file is checked before any conversation runs: a syntax error, an unknown
//! step, tool, slot or message, a missing language, a bad condition or policy value is an error
//! with the file, the line and the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::cond::Condition;
use crate::spec::FlowSpec;
use crate::FlowError;

/// Tools every flow may call without declaring them.
pub const BUILTIN_TOOLS: [&str; 7] = [
    "order.lookup",
    "return.eligibility",
    "delivery.check",
    "weather.outlook",
    "products.recommend",
    "return.create",
    "case.open",
];

/// Built-in tools that change something in the world (recorded as actions, run once).
pub const BUILTIN_ACTIONS: [&str; 2] = ["return.create", "case.open"];

/// The flows shipped in the repository's `flows/`, built into the binary.
pub const SHIPPED: [(&str, &str); 3] = [
    (
        "return_exchange.yaml",
        include_str!("../../../flows/return_exchange.yaml"),
    ),
    (
        "recommendation.yaml",
        include_str!("../../../flows/recommendation.yaml"),
    ),
    (
        "order_status.yaml",
        include_str!("../../../flows/order_status.yaml"),
    ),
];

/// A validated flow with its parsed conditions.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The file's content.
    pub spec: FlowSpec,
    /// Where it came from (file name or path).
    pub source: String,
    /// Parsed condition of each transition: (step, index) → condition.
    pub(crate) conditions: BTreeMap<(String, usize), Condition>,
}

/// All flows of a deployment.
#[derive(Debug, Clone, Default)]
pub struct FlowSet {
    flows: Vec<Flow>,
}

impl FlowSet {
    /// The shipped flows.
    pub fn shipped() -> Result<FlowSet, FlowError> {
        Self::from_sources(
            SHIPPED
                .iter()
                .map(|(name, text)| (format!("flows/{name} (built in)"), (*text).to_owned())),
        )
    }

    /// Every `*.yaml` / `*.yml` file directly in `dir` (sorted by name).
    pub fn load_dir(dir: &Path) -> Result<FlowSet, FlowError> {
        let entries = std::fs::read_dir(dir).map_err(|e| FlowError::Invalid {
            file: dir.display().to_string(),
            line: 0,
            reason: format!("cannot read the flows directory: {e}"),
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        paths.sort();
        let mut sources = Vec::new();
        for p in paths {
            let text = std::fs::read_to_string(&p).map_err(|e| FlowError::Invalid {
                file: p.display().to_string(),
                line: 0,
                reason: e.to_string(),
            })?;
            sources.push((p.display().to_string(), text));
        }
        if sources.is_empty() {
            return Err(FlowError::Invalid {
                file: dir.display().to_string(),
                line: 0,
                reason: "no flow files (*.yaml) in the directory".into(),
            });
        }
        Self::from_sources(sources)
    }

    /// Parses and validates named sources.
    pub fn from_sources(
        sources: impl IntoIterator<Item = (String, String)>,
    ) -> Result<FlowSet, FlowError> {
        let mut flows: Vec<Flow> = Vec::new();
        for (file, text) in sources {
            let flow = parse(&file, &text)?;
            if let Some(other) = flows.iter().find(|f| f.spec.name == flow.spec.name) {
                return Err(FlowError::Invalid {
                    line: line_of(&text, "name:"),
                    file,
                    reason: format!(
                        "flow `{}` is already defined in {}",
                        flow.spec.name, other.source
                    ),
                });
            }
            flows.push(flow);
        }
        Ok(FlowSet { flows })
    }

    /// Every flow.
    pub fn flows(&self) -> &[Flow] {
        &self.flows
    }

    /// A flow by name.
    pub fn get(&self, name: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| f.spec.name == name)
    }

    /// The flow an intent starts, if any.
    pub fn for_intent(&self, intent: &str) -> Option<&Flow> {
        self.flows
            .iter()
            .find(|f| f.spec.triggers.iter().any(|t| t == intent))
    }
}

/// The 1-based line of the first line containing `needle` (1 when absent).
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or(1)
}

/// The line of `key:` inside the block that starts at the line of `parent:`.
fn line_in(text: &str, parent: &str, key: &str) -> usize {
    let start = line_of(text, parent);
    text.lines()
        .enumerate()
        .skip(start.saturating_sub(1))
        .find(|(_, l)| l.contains(key))
        .map(|(i, _)| i + 1)
        .unwrap_or(start)
}

fn parse(file: &str, text: &str) -> Result<Flow, FlowError> {
    let spec: FlowSpec = serde_yaml::from_str(text).map_err(|e| FlowError::Invalid {
        file: file.to_owned(),
        line: e.location().map(|l| l.line()).unwrap_or(0),
        reason: e.to_string(),
    })?;
    let err = |line: usize, reason: String| FlowError::Invalid {
        file: file.to_owned(),
        line,
        reason,
    };
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    };
    if !name_ok(&spec.name) {
        return Err(err(
            line_of(text, "name:"),
            format!("flow name `{}` must be letters, digits, _ - .", spec.name),
        ));
    }
    if !spec.steps.contains_key(&spec.start) {
        return Err(err(
            line_of(text, "start:"),
            format!("`start` names step `{}`, which is not defined", spec.start),
        ));
    }
    let p = &spec.policy;
    for r in &p.resolutions {
        if !["refund", "exchange", "store_credit"].contains(&r.as_str()) {
            return Err(err(
                line_of(text, "resolutions"),
                format!("policy.resolutions has `{r}`; allowed: refund, exchange, store_credit"),
            ));
        }
    }
    if p.max_steps_per_turn == 0 || p.max_steps_per_flow < p.max_steps_per_turn {
        return Err(err(
            line_of(text, "max_steps"),
            "policy.max_steps_per_turn must be ≥ 1 and ≤ policy.max_steps_per_flow".into(),
        ));
    }
    for (name, tool) in &spec.tools {
        if BUILTIN_TOOLS.contains(&name.as_str()) {
            return Err(err(
                line_in(text, "tools:", &format!("{name}:")),
                format!("tool `{name}` has the name of a built-in tool"),
            ));
        }
        if !(tool.url.starts_with("http://") || tool.url.starts_with("https://")) {
            return Err(err(
                line_in(text, "tools:", "url:"),
                format!(
                    "tool `{name}`: url `{}` must start with http:// or https://",
                    tool.url
                ),
            ));
        }
        if tool.timeout_ms == 0 || tool.timeout_ms > 60_000 {
            return Err(err(
                line_in(text, "tools:", "timeout_ms"),
                format!("tool `{name}`: timeout_ms must be 1 to 60000"),
            ));
        }
    }
    let mut used_messages = BTreeSet::new();
    let mut conditions = BTreeMap::new();
    for (step_name, step) in &spec.steps {
        let at = |key: &str| line_in(text, &format!("  {step_name}:"), key);
        if let Some(tool) = &step.call {
            if !BUILTIN_TOOLS.contains(&tool.as_str()) && !spec.tools.contains_key(tool) {
                return Err(err(
                    at("call:"),
                    format!(
                        "step `{step_name}` calls `{tool}`, which is neither built in ({}) nor declared under `tools`",
                        BUILTIN_TOOLS.join(", ")
                    ),
                ));
            }
        }
        for slot in &step.wait_for {
            if !spec.slots.contains_key(slot) {
                return Err(err(
                    at("wait_for"),
                    format!("step `{step_name}` waits for slot `{slot}`, which is not declared under `slots`"),
                ));
            }
        }
        if !step.wait_for.is_empty() && step.say.is_none() {
            return Err(err(
                at("wait_for"),
                format!("step `{step_name}` waits for the customer but says nothing (add `say`)"),
            ));
        }
        if let Some(key) = &step.say {
            if !spec.messages.contains_key(key) {
                return Err(err(
                    at("say:"),
                    format!("step `{step_name}` says `{key}`, which has no entry under `messages` (en and it)"),
                ));
            }
            used_messages.insert(key.clone());
        }
        if let Some(key) = &step.ask_again {
            if step.wait_for.is_empty() {
                return Err(err(
                    at("ask_again:"),
                    format!("step `{step_name}` has `ask_again` but waits for nothing (add `wait_for`, or remove `ask_again`)"),
                ));
            }
            if !spec.messages.contains_key(key) {
                return Err(err(
                    at("ask_again:"),
                    format!("step `{step_name}` asks again with `{key}`, which has no entry under `messages` (en and it)"),
                ));
            }
            used_messages.insert(key.clone());
        }
        if step.end.is_none() && step.next.is_empty() && !step.handoff {
            return Err(err(
                line_of(text, &format!("  {step_name}:")),
                format!("step `{step_name}` has no `next`, no `end` and no `handoff`: the flow would stop without an outcome"),
            ));
        }
        for (i, t) in step.next.iter().enumerate() {
            if !spec.steps.contains_key(&t.goto) {
                return Err(err(
                    at(&format!("goto: {}", t.goto)),
                    format!(
                        "step `{step_name}` goes to `{}`, which is not defined",
                        t.goto
                    ),
                ));
            }
            if let Some(w) = &t.when {
                let c = Condition::parse(w).map_err(|r| err(at(w.as_str()), r))?;
                conditions.insert((step_name.clone(), i), c);
            }
        }
    }
    for (key, m) in &spec.messages {
        if m.en.trim().is_empty() || m.it.trim().is_empty() {
            return Err(err(
                line_in(text, "messages:", &format!("{key}:")),
                format!("message `{key}` needs both `en` and `it` text"),
            ));
        }
    }
    Ok(Flow {
        spec,
        source: file.to_owned(),
        conditions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_flows_load() {
        let set = FlowSet::shipped().expect("shipped flows are valid");
        assert_eq!(set.flows().len(), 3);
        assert_eq!(
            set.for_intent("return").map(|f| f.spec.name.as_str()),
            Some("return_exchange")
        );
        assert_eq!(
            set.for_intent("order_status").map(|f| f.spec.name.as_str()),
            Some("order_status")
        );
    }

    fn error_of(text: &str) -> (usize, String) {
        match FlowSet::from_sources([("bad.yaml".to_owned(), text.to_owned())]) {
            Err(FlowError::Invalid { file, line, reason }) => {
                assert_eq!(file, "bad.yaml");
                (line, reason)
            }
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("accepted:\n{text}"),
        }
    }

    #[test]
    fn errors_name_line_and_reason() {
        let base = "name: t\nstart: a\nsteps:\n  a:\n    say: hi\n    end: resolved\nmessages:\n  hi: {en: Hi, it: Ciao}\n";
        assert!(FlowSet::from_sources([("ok.yaml".into(), base.into())]).is_ok());
        let (line, reason) = error_of(&base.replace("say: hi", "say: bye"));
        assert_eq!(line, 5, "{reason}");
        assert!(reason.contains("`bye`"), "{reason}");
        let (line, reason) =
            error_of(&base.replace("    end: resolved", "    next:\n      - goto: nowhere"));
        assert_eq!(line, 7, "{reason}");
        assert!(reason.contains("nowhere"), "{reason}");
        let (line, reason) = error_of(&base.replace("end: resolved", "end: [unclosed"));
        assert!(line >= 6, "{line}: {reason}");
        let (line, reason) = error_of(&base.replace("say: hi", "call: crm.delete_all"));
        assert_eq!(line, 5, "{reason}");
        assert!(reason.contains("crm.delete_all"), "{reason}");
        let (_, reason) = error_of(&base.replace("it: Ciao", "it: ''"));
        assert!(reason.contains("en` and `it"), "{reason}");
        let (line, reason) = error_of(&base.replace(
            "    end: resolved",
            "    next:\n      - when: a b c\n        goto: a",
        ));
        assert_eq!(line, 7, "{reason}");
        let (line, reason) = error_of(&base.replace("start: a", "start: b"));
        assert_eq!(line, 2, "{reason}");
        let (_, reason) = error_of(&format!("{base}policy:\n  resolutions: [cash]\n"));
        assert!(reason.contains("cash"), "{reason}");
        let (_, reason) = error_of(&format!("{base}colour: blue\n"));
        assert!(reason.contains("colour"), "{reason}");
    }
}
