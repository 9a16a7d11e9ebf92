//! Loading flows: the shipped ones (built into the binary) or a developer's directory of
//! `*.yaml` files. Every file is checked before any conversation runs: a syntax error, a key
//! defined twice, an unknown step, tool, slot, message or intent, a fact name no step can set
//! (in a condition, a message or a tool argument), a condition with `||`, a missing language, a
//! webhook without a signing key, a gRPC tool with a webhook's `secret_env` or an https:// URL
//! (not supported yet), a bad policy value is an error with the file, the line, the
//! reason and what to write instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

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

fn parse(file: &str, text: &str) -> Result<Flow, FlowError> {
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

    /// The 1-based line of `text` that contains `needle` (its first one after `after` lines).
    fn line_with(text: &str, needle: &str, after: usize) -> usize {
        text.lines()
            .enumerate()
            .skip(after)
            .find(|(_, l)| l.contains(needle))
            .map(|(i, _)| i + 1)
            .unwrap_or_else(|| panic!("no `{needle}` in\n{text}"))
    }

    /// A flow that loads: it looks an order up, creates a return through a developer's tool
    /// and says so.
    const GOOD: &str = r#"name: shop_returns
triggers: [return]
keeps: [product_advice]
slots:
  order_id: {from: order_id}
  resolution:
    values:
      refund: [refund]
tools:
  shop.create_return:
    kind: webhook
    url: https://shop.example/returns
    secret_env: SHOP_SECRET
    action: true
    returns: [rma_id]
start: find
steps:
  find:
    call: order.lookup
    args: {order_id: "{order_id}"}
    next:
      - when: order_found && resolution == refund
        goto: create
      - when: amount != {policy.return_window_days}
        goto: done
      - goto: done
  create:
    call: shop.create_return
    args: {order_id: "{order_id}", sku: "{sku}"}
    next: [{goto: done}]
  done:
    say: done
    end: resolved
messages:
  done: {en: "Return {rma_id} for {product} is open.", it: "Il reso {rma_id} per {product} è aperto."}
"#;

    #[test]
    fn silent_mistakes_are_load_errors_with_line_and_hint() {
        assert!(
            FlowSet::from_sources([("ok.yaml".into(), GOOD.into())]).is_ok(),
            "{:?}",
            FlowSet::from_sources([("ok.yaml".into(), GOOD.into())]).err()
        );
        // (what, replace this, with this, the line that must be named, words of the reason)
        let cases: [(&str, &str, &str, &str, &[&str]); 12] = [
            (
                "`||` read as literal text",
                "when: order_found && resolution == refund",
                "when: resolution == refund || resolution == exchange",
                "when: resolution == refund ||",
                &["||", "one transition per alternative"],
            ),
            (
                "two comparisons without &&",
                "when: order_found && resolution == refund",
                "when: resolution == refund or resolution == exchange",
                "when: resolution == refund or",
                &["&&", "one transition per alternative"],
            ),
            (
                "a misspelled fact in a condition",
                "when: order_found && resolution",
                "when: order_fuond && resolution",
                "when: order_fuond",
                &["order_fuond", "did you mean `order_found`"],
            ),
            (
                "a misspelled fact on the right of a comparison",
                "{policy.return_window_days}",
                "{policy.return_windows_days}",
                "policy.return_windows_days",
                &[
                    "policy.return_windows_days",
                    "did you mean `policy.return_window_days`",
                ],
            ),
            (
                "a misspelled placeholder in a message",
                "it: \"Il reso {rma_id}",
                "it: \"Il reso {rma_idd}",
                "  done: {en:",
                &["rma_idd", "`done`", "did you mean `rma_id`"],
            ),
            (
                "a misspelled placeholder in an argument",
                "sku: \"{sku}\"",
                "sku: \"{skus}\"",
                "sku: \"{skus}\"",
                &["skus", "`create`", "did you mean `sku`"],
            ),
            (
                "a trigger naming an unknown intent",
                "triggers: [return]",
                "triggers: [retrun]",
                "triggers:",
                &["retrun", "did you mean `return`", "order_status"],
            ),
            (
                "a duplicate step",
                "  done:\n    say: done",
                "  find:\n    say: done\n    end: resolved\n  done:\n    say: done",
                "  find:\n    say: done",
                &["`find`", "twice"],
            ),
            (
                "a webhook without secret_env",
                "    secret_env: SHOP_SECRET\n",
                "",
                "  shop.create_return:",
                &["shop.create_return", "secret_env"],
            ),
            (
                "a gRPC tool with a webhook's signing key",
                "kind: webhook",
                "kind: grpc",
                "    secret_env:",
                &["shop.create_return", "token_env", "webhook bodies only"],
            ),
            (
                "a gRPC tool over https",
                "kind: webhook\n    url: https://shop.example/returns\n    secret_env: SHOP_SECRET\n",
                "kind: grpc\n    url: https://shop.example/returns\n",
                "    url:",
                &["shop.create_return", "not supported", "http://"],
            ),
            (
                "an empty token_env",
                "    secret_env: SHOP_SECRET\n",
                "    secret_env: SHOP_SECRET\n    token_env: \"\"\n",
                "    token_env:",
                &["shop.create_return", "token_env", "empty"],
            ),
        ];
        for (what, from, to, at, words) in cases {
            assert!(GOOD.contains(from), "{what}: the case does not apply");
            let text = GOOD.replacen(from, to, 1);
            let (line, reason) = error_of(&text);
            let first = at.split('\n').next().unwrap_or(at);
            // The duplicate is the second `find:`; everything else the first match.
            let after = if what == "a duplicate step" {
                line_with(&text, first, 0)
            } else {
                0
            };
            assert_eq!(line, line_with(&text, first, after), "{what}: {reason}");
            for w in words {
                assert!(reason.contains(w), "{what}: `{w}` not in: {reason}");
            }
        }
    }

    #[test]
    fn a_developers_file_is_named_with_its_path_and_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("returns.yaml");
        let text = GOOD.replace("triggers: [return]", "triggers: [retrun]");
        std::fs::write(&path, &text).expect("write");
        let e = FlowSet::load_dir(dir.path()).expect_err("a misspelled intent");
        let at = format!("{}:2: ", path.display());
        assert!(e.to_string().starts_with(&at), "{e}");
    }
}
