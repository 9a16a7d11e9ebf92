//! Checking one flow file before any conversation runs: a syntax error, a key defined twice,
//! an unknown step, tool, slot, message or intent, a fact name no step can set (in a
//! condition, a message or a tool argument), a condition with `||`, a missing language, a
//! webhook without a signing key, a gRPC tool with a webhook's `secret_env` or an https:// URL
//! (not supported yet), a bad policy value is an error with the file, the line, the reason and
//! what to write instead. The result is a [`Flow`] with its conditions parsed.

use std::collections::{BTreeMap, BTreeSet};

use crate::cond::Condition;
use crate::names::{self, INTENTS};
use crate::spec::{FlowSpec, ToolKind};
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

/// The 1-based line of the first line containing `needle` (1 when absent).
pub(crate) fn line_of(text: &str, needle: &str) -> usize {
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

/// The 1-based line of `key:` as a key (at the start of its line, after the indentation) in the
/// block that starts at the first line containing `parent` (1 when absent).
fn key_line(text: &str, parent: &str, key: &str) -> usize {
    let start = line_of(text, parent);
    let wanted = format!("{key}:");
    text.lines()
        .enumerate()
        .skip(start)
        .find(|(_, l)| l.trim_start().starts_with(&wanted))
        .map(|(i, _)| i + 1)
        .unwrap_or(start)
}

/// The YAML as a tree, to find what serde would let through: a key written twice in one block
/// (a second step `find:` replaced the first without a word). The error names the line of the
/// second one.
fn check_duplicates(file: &str, text: &str) -> Result<(), FlowError> {
    let Err(e) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return Ok(());
    };
    let message = e.to_string();
    let block = e.location().map(|l| l.line()).unwrap_or(0);
    let (line, reason) = match message.split_once("duplicate entry with key ") {
        Some((path, rest)) => {
            let key = rest.split('"').nth(1).unwrap_or(rest);
            let within = path.trim().trim_end_matches(':');
            let within = if within.is_empty() {
                String::new()
            } else {
                format!(" under `{within}`")
            };
            (
                second_key_line(text, block, key),
                format!(
                    "`{key}` is defined twice{within} (the second would silently replace the first): rename one of them, or remove it"
                ),
            )
        }
        None => (block, message),
    };
    Err(FlowError::Invalid {
        file: file.to_owned(),
        line,
        reason,
    })
}

/// The line of the second `key:` of the block whose first key is at line `block` (1-based);
/// `block` when there is none.
fn second_key_line(text: &str, block: usize, key: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let Some(first) = lines.get(block.saturating_sub(1)) else {
        return block;
    };
    let indent = |l: &str| l.len() - l.trim_start().len();
    let depth = indent(first);
    let wanted = format!("{key}:");
    lines
        .iter()
        .enumerate()
        .skip(block.saturating_sub(1))
        .take_while(|(_, l)| {
            let t = l.trim_start();
            t.is_empty() || t.starts_with('#') || indent(l) >= depth
        })
        .filter(|(_, l)| indent(l) == depth && l.trim_start().starts_with(&wanted))
        .nth(1)
        .map_or(block, |(i, _)| i + 1)
}

pub(crate) fn parse(file: &str, text: &str) -> Result<Flow, FlowError> {
    check_duplicates(file, text)?;
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
    for (field, intents) in [("triggers", &spec.triggers), ("keeps", &spec.keeps)] {
        if let Some(bad) = intents.iter().find(|i| !INTENTS.contains(&i.as_str())) {
            return Err(err(
                line_of(text, &format!("{field}:")),
                format!(
                    "{field} names intent `{bad}`, which the understanding never gives: {} (the intents are {})",
                    names::hint(bad, INTENTS),
                    INTENTS.join(", ")
                ),
            ));
        }
    }
    let known = names::facts_of(&spec);
    let unknown_fact = |name: &str, place: String| {
        format!(
            "{place} reads `{name}`, which no slot, policy value or tool of this flow sets: {} (a key of a developer tool's answer counts once listed under the tool's `returns`)",
            names::hint(name, known.iter().map(String::as_str))
        )
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
        if tool.kind == ToolKind::Webhook
            && tool
                .secret_env
                .as_deref()
                .is_none_or(|v| v.trim().is_empty())
        {
            return Err(err(
                key_line(text, "tools:", name),
                format!(
                    "webhook `{name}` has no `secret_env`: its bodies would be signed with an empty key, which anyone can forge. Add `secret_env: SHOP_WEBHOOK_SECRET` (the environment variable that holds the key your backend verifies)"
                ),
            ));
        }
        if tool.kind == ToolKind::Grpc && tool.secret_env.is_some() {
            return Err(err(
                key_line(text, &format!("{name}:"), "secret_env"),
                format!(
                    "gRPC tool `{name}`: `secret_env` signs webhook bodies only, so the tool would get no credential. Write `token_env: SHOP_TOOL_TOKEN` instead (the environment variable whose value is sent as `authorization: Bearer …`)"
                ),
            ));
        }
        if tool.kind == ToolKind::Grpc && tool.url.starts_with("https://") {
            return Err(err(
                key_line(text, &format!("{name}:"), "url"),
                format!(
                    "gRPC tool `{name}`: https:// (TLS, mTLS) is not supported for gRPC tools yet. Serve it over http:// on a private network or behind a local TLS proxy, or use a webhook (`kind: webhook`), which supports https://"
                ),
            ));
        }
        if tool
            .token_env
            .as_deref()
            .is_some_and(|v| v.trim().is_empty())
        {
            return Err(err(
                key_line(text, &format!("{name}:"), "token_env"),
                format!("tool `{name}`: `token_env` is empty: name the environment variable that holds the bearer token (e.g. `token_env: SHOP_TOOL_TOKEN`), or remove the key"),
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
        for (arg, value) in &step.args {
            let used = names::placeholders(value).map_err(|r| err(at("args"), r))?;
            if let Some(bad) = used.into_iter().find(|n| !known.contains(*n)) {
                return Err(err(
                    at(&format!("{{{bad}}}")),
                    unknown_fact(
                        bad,
                        format!("argument `{arg}` of step `{step_name}` (it would be sent empty)"),
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
                if let Some(bad) = c.names().into_iter().find(|n| !known.contains(*n)) {
                    return Err(err(
                        at(w.as_str()),
                        unknown_fact(bad, format!("the condition `{w}` of step `{step_name}`")),
                    ));
                }
                conditions.insert((step_name.clone(), i), c);
            }
        }
    }
    for (key, m) in &spec.messages {
        let line = key_line(text, "messages:", key);
        if m.en.trim().is_empty() || m.it.trim().is_empty() {
            return Err(err(
                line,
                format!("message `{key}` needs both `en` and `it` text"),
            ));
        }
        for (lang, t) in [("en", &m.en), ("it", &m.it)] {
            let used =
                names::placeholders(t).map_err(|r| err(line, format!("message `{key}`: {r}")))?;
            if let Some(bad) = used.into_iter().find(|n| !known.contains(*n)) {
                return Err(err(
                    line,
                    unknown_fact(bad, format!("message `{key}` ({lang})")),
                ));
            }
        }
    }
    Ok(Flow {
        spec,
        source: file.to_owned(),
        conditions,
    })
}
