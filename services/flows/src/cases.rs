//! Conversation test cases for integrators (`parla test-flows DIR`): YAML files of cases, each a
//! customer and their turns with what must happen at each turn — intent, flow and step, actions
//! (exactly), tool calls with arguments (at least), hand-off, and text that must or must not
//! appear. Parsing and checking live here; the command drives a real dialogue manager.

use std::collections::BTreeMap;
use std::path::Path;

use parla_proto::v1 as pb;
use serde::Deserialize;

use crate::FlowError;

/// A file of cases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// Today's date (`YYYY-MM-DD`) the cases assume (return windows, late deliveries); the
    /// clock when unset.
    #[serde(default)]
    pub today: Option<String>,
    /// Weather provider the cases assume (`offline`, `none`, `open-meteo`, `auto`).
    #[serde(default)]
    pub weather: Option<crate::WeatherProviderKind>,
    /// The cases.
    pub cases: Vec<Case>,
}

/// The cases of a directory with the settings their files ask for.
#[derive(Debug, Clone, Default)]
pub struct Suite {
    /// Cases with their file.
    pub cases: Vec<(String, Case)>,
    /// `today` of the first file that sets it.
    pub today: Option<String>,
    /// `weather` of the first file that sets it.
    pub weather: Option<crate::WeatherProviderKind>,
}

/// One conversation to test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Name printed with pass/fail.
    pub name: String,
    /// Who the customer is (none: anonymous).
    #[serde(default)]
    pub customer: Option<CustomerRef>,
    /// Language of the conversation ("en", "it"; empty to detect).
    #[serde(default)]
    pub language: String,
    /// `chat` (default) or `voice`.
    #[serde(default)]
    pub channel: String,
    /// The customer's turns.
    pub turns: Vec<CaseTurn>,
}

/// How the channel knows the customer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerRef {
    /// Caller id.
    #[serde(default)]
    pub phone: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Authenticated customer id.
    #[serde(default)]
    pub id: Option<String>,
}

impl CustomerRef {
    /// The proto hint.
    pub fn hint(&self) -> Option<pb::CustomerHint> {
        use pb::customer_hint::Hint;
        let h = if let Some(p) = &self.phone {
            Hint::PhoneNumber(p.clone())
        } else if let Some(e) = &self.email {
            Hint::Email(e.clone())
        } else {
            Hint::CustomerId(self.id.clone()?)
        };
        Some(pb::CustomerHint { hint: Some(h) })
    }
}

/// A turn and what must happen.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseTurn {
    /// What the customer says.
    pub say: String,
    /// Expectations.
    #[serde(default)]
    pub expect: Expect,
}

/// Expectations of one turn; unset ones are not checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    /// Intent name.
    pub intent: Option<String>,
    /// Active flow.
    pub flow: Option<String>,
    /// Flow step after the turn.
    pub step: Option<String>,
    /// The flow ended.
    pub done: Option<bool>,
    /// Handed off.
    pub handoff: Option<bool>,
    /// Exactly these actions (name and the given arguments).
    pub actions: Option<Vec<ExpectCall>>,
    /// At least these tool calls (name and the given arguments).
    pub tool_calls: Vec<ExpectCall>,
    /// Text that must appear (case-insensitive).
    pub contains: Vec<String>,
    /// Text that must not appear (case-insensitive).
    pub not_contains: Vec<String>,
}

/// A call or action with some of its arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectCall {
    /// Tool or action name.
    pub name: String,
    /// Arguments that must have these values.
    #[serde(default)]
    pub args: BTreeMap<String, String>,
}

/// What a turn produced.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The final reply event.
    pub reply: pb::ReplyFinal,
    /// Tool calls published for the turn.
    pub tool_calls: Vec<pb::ToolCallRecord>,
}

fn matches(e: &ExpectCall, name: &str, args: &std::collections::HashMap<String, String>) -> bool {
    e.name == name && e.args.iter().all(|(k, v)| args.get(k) == Some(v))
}

/// Failures of one turn (empty when it passed).
pub fn check(expect: &Expect, seen: &Observed) -> Vec<String> {
    let r = &seen.reply;
    let mut fails = Vec::new();
    let flow = r.flow_state.clone().unwrap_or_default();
    let intent = r.intent.as_ref().map(|i| i.name.as_str()).unwrap_or("");
    let handoff = r.handoff.as_ref().is_some_and(|h| h.handoff);
    let mut want = |what: &str, ok: bool, expected: String, got: String| {
        if !ok {
            fails.push(format!("{what}: expected {expected}, got {got}"));
        }
    };
    if let Some(i) = &expect.intent {
        want("intent", i == intent, i.clone(), intent.into());
    }
    if let Some(f) = &expect.flow {
        want("flow", *f == flow.flow, f.clone(), flow.flow.clone());
    }
    if let Some(s) = &expect.step {
        want("step", *s == flow.step, s.clone(), flow.step.clone());
    }
    if let Some(d) = expect.done {
        want("done", d == flow.done, d.to_string(), flow.done.to_string());
    }
    if let Some(h) = expect.handoff {
        want("handoff", h == handoff, h.to_string(), handoff.to_string());
    }
    let text = r.text.to_lowercase();
    for c in &expect.contains {
        want(
            "text",
            text.contains(&c.to_lowercase()),
            format!("to contain {c:?}"),
            format!("{:?}", r.text),
        );
    }
    for c in &expect.not_contains {
        want(
            "text",
            !text.contains(&c.to_lowercase()),
            format!("not to contain {c:?}"),
            format!("{:?}", r.text),
        );
    }
    if let Some(actions) = &expect.actions {
        let got: Vec<String> = r
            .actions
            .iter()
            .map(|a| format!("{}{:?}", a.name, a.arguments))
            .collect();
        let all = actions.len() == r.actions.len()
            && actions
                .iter()
                .all(|e| r.actions.iter().any(|a| matches(e, &a.name, &a.arguments)));
        let names: Vec<&str> = actions.iter().map(|a| a.name.as_str()).collect();
        want("actions", all, format!("{names:?}"), format!("{got:?}"));
    }
    for e in &expect.tool_calls {
        let ok = seen
            .tool_calls
            .iter()
            .any(|c| matches(e, &c.name, &c.arguments));
        let got: Vec<String> = seen
            .tool_calls
            .iter()
            .map(|c| format!("{}{:?}", c.name, c.arguments))
            .collect();
        want(
            "tool call",
            ok,
            format!("{} {:?}", e.name, e.args),
            format!("{got:?}"),
        );
    }
    fails
}

/// Every case in the `*.yaml` files directly in `dir`, with its file.
pub fn load_dir(dir: &Path) -> Result<Suite, FlowError> {
    let invalid = |file: &Path, line: usize, reason: String| FlowError::Invalid {
        file: file.display().to_string(),
        line,
        reason,
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| invalid(dir, 0, format!("cannot read: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    let mut out = Suite::default();
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(|e| invalid(&p, 0, e.to_string()))?;
        let file: CaseFile = serde_yaml::from_str(&text).map_err(|e| {
            invalid(
                &p,
                e.location().map(|l| l.line()).unwrap_or(0),
                e.to_string(),
            )
        })?;
        if let Some(t) = &file.today {
            if crate::facts::parse_day(t).is_none() {
                return Err(invalid(
                    &p,
                    1,
                    format!("today {t:?} is not a date YYYY-MM-DD"),
                ));
            }
        }
        out.today = out.today.or(file.today);
        out.weather = out.weather.or(file.weather);
        for c in file.cases {
            if c.turns.is_empty() {
                return Err(invalid(&p, 0, format!("case `{}` has no turns", c.name)));
            }
            out.cases.push((p.display().to_string(), c));
        }
    }
    if out.cases.is_empty() {
        return Err(invalid(
            dir,
            0,
            "no test cases (*.yaml with `cases:`)".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_report_each_difference() {
        let expect: Expect = serde_yaml::from_str(
            "intent: return\nhandoff: false\nactions: [{name: create_return, args: {resolution: refund}}]\ncontains: [RMA]\nnot_contains: ['°C']\ntool_calls: [{name: order.lookup}]\n",
        )
        .expect("yaml");
        let mut seen = Observed::default();
        seen.reply.text = "Return RMA-1 is open.".into();
        seen.reply.intent = Some(pb::Intent {
            name: "return".into(),
            ..Default::default()
        });
        seen.reply.actions.push(pb::Action {
            name: "create_return".into(),
            arguments: [("resolution".to_owned(), "refund".to_owned())]
                .into_iter()
                .collect(),
            ok: true,
            result: "RMA-1".into(),
        });
        seen.tool_calls.push(pb::ToolCallRecord {
            name: "order.lookup".into(),
            ..Default::default()
        });
        assert!(
            check(&expect, &seen).is_empty(),
            "{:?}",
            check(&expect, &seen)
        );
        seen.reply.text = "It is 2 °C".into();
        seen.reply.actions.clear();
        let fails = check(&expect, &seen);
        assert_eq!(fails.len(), 3, "{fails:?}");
    }
}
