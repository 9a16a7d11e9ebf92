//! The flow runner: pure logic, no I/O. Given the conversation's flow state, the turn's
//! understanding (intent, slots), the customer's context and tool results, it decides the next
//! step, the message to say with its facts, the actions and whether to hand off. It asks the
//! caller to run a tool with [`Directive::Call`] and continues with [`FlowRunner::resume`]. The
//! language model never decides an action: actions come only from steps of a flow file.
//!
//! Loop protection: a turn may run `policy.max_steps_per_turn` steps and a flow
//! `policy.max_steps_per_flow`; a waiting step asks at most `1 + policy.max_attempts` times.
//! Past either limit the flow ends with an honest message and a hand-off.

use sha2::{Digest, Sha256};

use crate::check::{Flow, BUILTIN_ACTIONS};
use crate::facts::{self, Facts};
use crate::loader::FlowSet;
use crate::spec::{StepSpec, ToolErrorPolicy};
pub use crate::state::{
    CallRecord, Directive, FlowReply, FlowState, Said, ToolCall, ToolOutcome, ToolResult, TurnInput,
};
use crate::Lang;

/// Intents that leave a waiting flow (the dialogue answers them itself).
const LEAVING_INTENTS: [&str; 3] = ["goodbye", "human", "greeting"];

/// Runs flows.
#[derive(Debug, Clone)]
pub struct FlowRunner {
    flows: FlowSet,
}

impl FlowRunner {
    /// A runner over these flows.
    pub fn new(flows: FlowSet) -> Self {
        FlowRunner { flows }
    }

    /// The flows.
    pub fn flows(&self) -> &FlowSet {
        &self.flows
    }

    /// Starts or continues a flow for a customer turn.
    pub fn turn(&self, state: &mut FlowState, input: &TurnInput<'_>) -> Directive {
        state.steps_in_turn = 0;
        state.calls_in_turn.clear();
        state.reply = FlowReply::default();
        state.pending = None;
        if let Some(flow) = self.flows.get(&state.flow).filter(|_| state.active()) {
            if state.waiting {
                let step = flow
                    .spec
                    .steps
                    .get(&state.step)
                    .cloned()
                    .unwrap_or_default();
                if step.wait_for.is_empty() {
                    // Waiting after a failed tool (policy `retry`): run the step again.
                    state.waiting = false;
                    let at = state.step.clone();
                    return self.run(flow, state, input, at);
                }
                let (filled, given) = fill_slots(flow, state, input, &step.wait_for);
                if filled {
                    state.waiting = false;
                    return match next_step(flow, state, &state.step.clone(), &step) {
                        Some(next) => self.run(flow, state, input, next),
                        None => self.stuck(flow, state, input, "no transition matched"),
                    };
                }
                // An answer that gives one of this flow's slots ("the order is Q81266" while
                // it asks "exchange or refund?") belongs to this flow, whatever its intent.
                let other = self
                    .flows
                    .for_intent(input.intent)
                    .filter(|f| f.spec.name != flow.spec.name && input.confidence >= 0.5)
                    .filter(|_| !given && !flow.spec.keeps.iter().any(|k| k == input.intent));
                if other.is_some() || LEAVING_INTENTS.contains(&input.intent) {
                    tracing::info!(flow = %flow.spec.name, step = %state.step, intent = input.intent, "flow left");
                    state.done = true;
                    state.outcome = "abandoned".into();
                    if other.is_none() {
                        return Directive::Pass;
                    }
                } else {
                    let at = state.step.clone();
                    return self.run(flow, state, input, at);
                }
            }
        }
        let Some(flow) = self.flows.for_intent(input.intent) else {
            return Directive::Pass;
        };
        let conversation_id = std::mem::take(&mut state.conversation_id);
        *state = FlowState {
            conversation_id,
            flow: flow.spec.name.clone(),
            ..FlowState::default()
        };
        let _ = fill_slots(flow, state, input, &[]);
        tracing::info!(flow = %flow.spec.name, intent = input.intent, "flow started");
        self.run(flow, state, input, flow.spec.start.clone())
    }

    /// Continues after the tool asked for by [`Directive::Call`].
    pub fn resume(
        &self,
        state: &mut FlowState,
        input: &TurnInput<'_>,
        result: ToolResult,
    ) -> Directive {
        let (Some(flow), Some(call)) = (self.flows.get(&state.flow), state.pending.take()) else {
            return Directive::Pass;
        };
        let step_name = call.step.clone();
        if let Some(f) = result.outcome.facts() {
            state.facts.extend(f.clone());
        }
        let record = CallRecord { call, result };
        // A tool that changes nothing changed nothing, whatever became of the call; an action
        // whose outcome is unknown may have been carried out.
        let unconfirmed =
            record.call.action && matches!(record.result.outcome, ToolOutcome::Unknown(_));
        let ok = record.result.outcome.succeeded();
        let reason = unconfirmed.then(|| unconfirmed_reason(&record));
        state.reply.calls.push(record);
        if let Some(reason) = reason {
            return self.tool_unconfirmed(flow, state, input, &step_name, reason);
        }
        if !ok {
            return self.tool_failed(flow, state, input, &step_name);
        }
        let step = flow.spec.steps.get(&step_name).cloned().unwrap_or_default();
        if let Some(d) = self.after_call(flow, state, input, &step_name, &step) {
            return d;
        }
        match next_step(flow, state, &step_name, &step) {
            Some(n) => self.run(flow, state, input, n),
            None => self.stuck(flow, state, input, "no transition matched"),
        }
    }

    fn run(
        &self,
        flow: &Flow,
        state: &mut FlowState,
        input: &TurnInput<'_>,
        mut at: String,
    ) -> Directive {
        loop {
            state.steps_in_turn += 1;
            state.steps_in_flow += 1;
            let p = &flow.spec.policy;
            if state.steps_in_turn > p.max_steps_per_turn
                || state.steps_in_flow > p.max_steps_per_flow
            {
                tracing::warn!(flow = %flow.spec.name, step = %at, "flow loop stopped");
                return self.stuck(
                    flow,
                    state,
                    input,
                    "the flow ran too many steps (loop protection)",
                );
            }
            state.step = at.clone();
            let Some(step) = flow.spec.steps.get(&at).cloned() else {
                return self.stuck(flow, state, input, "unknown step");
            };
            if let Some(tool) = &step.call {
                let args: Facts = step
                    .args
                    .iter()
                    .map(|(k, v)| (k.clone(), fill_lenient(v, &view(flow, state))))
                    .collect();
                if let Some(f) = pure_tool(flow, state, input, tool, &args) {
                    state.facts.extend(f.clone());
                    state.reply.calls.push(CallRecord {
                        call: ToolCall {
                            idempotency_key: String::new(),
                            tool: tool.clone(),
                            args,
                            action: false,
                            flow: flow.spec.name.clone(),
                            step: at.clone(),
                        },
                        result: ToolResult {
                            outcome: ToolOutcome::Succeeded(f),
                            attempts: 1,
                        },
                    });
                } else {
                    let action = BUILTIN_ACTIONS.contains(&tool.as_str())
                        || flow.spec.tools.get(tool).is_some_and(|t| t.action);
                    let run = state.calls_in_turn.entry(at.clone()).or_insert(0);
                    *run += 1;
                    let request = ToolRequest {
                        conversation: &state.conversation_id,
                        turn: input.turn,
                        flow: &flow.spec.name,
                        step: &at,
                        tool,
                        run: *run,
                    };
                    let call = ToolCall {
                        idempotency_key: request.idempotency_key(),
                        tool: tool.clone(),
                        args,
                        action,
                        flow: flow.spec.name.clone(),
                        step: at.clone(),
                    };
                    state.pending = Some(call.clone());
                    return Directive::Call(call);
                }
            }
            if let Some(d) = self.after_call(flow, state, input, &at, &step) {
                return d;
            }
            match next_step(flow, state, &at, &step) {
                Some(n) => at = n,
                None => return self.stuck(flow, state, input, "no transition matched"),
            }
        }
    }

    /// Says, waits, ends or hands off after a step's tool; `None` means "go on to `next`".
    fn after_call(
        &self,
        flow: &Flow,
        state: &mut FlowState,
        input: &TurnInput<'_>,
        at: &str,
        step: &StepSpec,
    ) -> Option<Directive> {
        if let Some(first) = &step.say {
            let mut key = first;
            if !step.wait_for.is_empty() {
                let asked = state.asks.entry(at.to_owned()).or_insert(0);
                *asked += 1;
                if *asked > 1 + flow.spec.policy.max_attempts {
                    return Some(self.stuck(
                        flow,
                        state,
                        input,
                        "the customer was asked too many times",
                    ));
                }
                if *asked > 1 {
                    key = step.ask_again.as_ref().unwrap_or(first);
                }
            }
            if let Err(missing) = say(flow, state, input.lang, key) {
                tracing::warn!(flow = %flow.spec.name, step = at, missing = %missing, "message needs a missing fact");
                return Some(self.stuck(flow, state, input, "a fact the message needs is missing"));
            }
            if !step.wait_for.is_empty() {
                state.waiting = true;
                return Some(self.reply(flow, state, input.lang));
            }
        }
        if step.handoff {
            state.reply.handoff = true;
            state.reply.handoff_reason = format!("flow {} step {at}", flow.spec.name);
        }
        if let Some(outcome) = &step.end {
            return Some(self.finish(flow, state, input.lang, outcome));
        }
        if step.handoff && step.next.is_empty() {
            return Some(self.finish(flow, state, input.lang, "handoff"));
        }
        None
    }

    fn finish(&self, flow: &Flow, state: &mut FlowState, lang: Lang, outcome: &str) -> Directive {
        state.done = true;
        state.waiting = false;
        state.outcome = outcome.to_owned();
        state.reply.outcome = Some(outcome.to_owned());
        tracing::info!(flow = %flow.spec.name, step = %state.step, outcome, "flow ended");
        self.reply(flow, state, lang)
    }

    fn reply(&self, flow: &Flow, state: &mut FlowState, lang: Lang) -> Directive {
        let v = view(flow, state);
        for tone in ["empathetic", "apologetic"] {
            if let Some(m) = flow.spec.messages.get(&format!("tone.{tone}")) {
                if let Ok(t) = fill(lang.pick(&m.en, &m.it), &v) {
                    state.reply.tone_prefix.insert(tone.into(), t);
                }
            }
        }
        state.reply.facts = v;
        Directive::Reply(std::mem::take(&mut state.reply))
    }

    /// A tool that did nothing (it refused, or was never reached): said so, then a hand-off
    /// or, with `on_tool_error: retry`, another try on the customer's next turn.
    fn tool_failed(
        &self,
        flow: &Flow,
        state: &mut FlowState,
        input: &TurnInput<'_>,
        at: &str,
    ) -> Directive {
        tracing::warn!(flow = %flow.spec.name, step = at, "tool failed; no action taken");
        let retry = flow.spec.policy.on_tool_error == ToolErrorPolicy::Retry
            && state.asks.get(at).copied().unwrap_or(0) < flow.spec.policy.max_attempts;
        state.reply.said.push(Said {
            key: "tool_failed".into(),
            text: input
                .lang
                .pick(
                    if retry {
                        "I'm sorry, I couldn't complete that just now, and nothing has been changed. Could you say that again in a moment?"
                    } else {
                        "I'm sorry, I couldn't complete that just now, and nothing has been changed. I'm passing you to a colleague who can finish it."
                    },
                    if retry {
                        "Mi dispiace, non sono riuscita a completare l'operazione in questo momento, e non è stato modificato nulla. Può ripetere tra un momento?"
                    } else {
                        "Mi dispiace, non sono riuscita a completare l'operazione in questo momento, e non è stato modificato nulla. La passo a un collega che può concluderla."
                    },
                )
                .to_owned(),
        });
        if retry {
            *state.asks.entry(at.to_owned()).or_insert(0) += 1;
            state.waiting = true;
            // Resume at the failed step: its transitions are re-run after the tool succeeds.
            return self.reply(flow, state, input.lang);
        }
        state.reply.handoff = true;
        state.reply.handoff_reason = format!("tool failed in flow {} step {at}", flow.spec.name);
        self.finish(flow, state, input.lang, "tool_failed")
    }

    /// An action that may have been carried out: the customer hears that it could not be
    /// confirmed and that a colleague will check (never that nothing changed, never "try
    /// again", which would be a second request); the colleague gets the tool and the key to
    /// look up. Whatever `on_tool_error` says.
    fn tool_unconfirmed(
        &self,
        flow: &Flow,
        state: &mut FlowState,
        input: &TurnInput<'_>,
        at: &str,
        reason: String,
    ) -> Directive {
        tracing::warn!(flow = %flow.spec.name, step = at, "action outcome unknown; handed off to be checked");
        state.reply.said.push(Said {
            key: "tool_unconfirmed".into(),
            text: input
                .lang
                .pick(
                    "I'm sorry, I couldn't confirm it went through: one of our systems didn't give me a clear answer. A colleague will check it and let you know, so there's no need to ask again. I'm passing you to them now.",
                    "Mi dispiace, non sono riuscita a confermare che l'operazione sia andata a buon fine: uno dei nostri sistemi non mi ha dato una risposta chiara. Un collega verificherà e le farà sapere, quindi non serve chiederlo di nuovo. La passo a lui adesso.",
                )
                .to_owned(),
        });
        state.reply.handoff = true;
        state.reply.handoff_reason = reason;
        self.finish(flow, state, input.lang, "tool_unconfirmed")
    }

    fn stuck(
        &self,
        flow: &Flow,
        state: &mut FlowState,
        input: &TurnInput<'_>,
        why: &str,
    ) -> Directive {
        state.reply.said.push(Said {
            key: "flow_stuck".into(),
            text: input
                .lang
                .pick(
                    "I'm sorry, I can't finish this on my own. I'm passing you to a colleague, with everything we've said so far.",
                    "Mi dispiace, non riesco a concludere da sola. La passo a un collega, con tutto quello che ci siamo detti.",
                )
                .to_owned(),
        });
        state.reply.handoff = true;
        state.reply.handoff_reason = format!(
            "flow {} stopped at step {}: {why}",
            flow.spec.name, state.step
        );
        self.finish(flow, state, input.lang, "handoff")
    }
}

/// What the colleague must know about an action whose outcome is unknown: which tool, where,
/// why, and the key to look up in the backend.
fn unconfirmed_reason(c: &CallRecord) -> String {
    format!(
        "outcome unknown: `{}` (flow {}, step {}) may have been carried out ({}); idempotency key {}: check it in the backend before doing it again",
        c.call.tool,
        c.call.flow,
        c.call.step,
        c.result.outcome.error().unwrap_or(""),
        c.call.idempotency_key
    )
}

/// Fills slots from the turn; true when every slot in `required` was given in this turn.
fn fill_slots(
    flow: &Flow,
    state: &mut FlowState,
    input: &TurnInput<'_>,
    required: &[String],
) -> (bool, bool) {
    let mut given = Vec::new();
    for (name, spec) in &flow.spec.slots {
        let value = spec
            .from
            .as_ref()
            .and_then(|kind| input.slots.get(kind).cloned())
            .or_else(|| facts::slot_value(spec, input.text));
        if let Some(v) = value {
            state.slots.insert(name.clone(), v);
            given.push(name.clone());
        }
    }
    (
        required.iter().all(|r| given.contains(r)),
        !given.is_empty(),
    )
}

fn next_step(flow: &Flow, state: &FlowState, at: &str, step: &StepSpec) -> Option<String> {
    let v = view(flow, state);
    step.next.iter().enumerate().find_map(|(i, t)| {
        let holds = flow
            .conditions
            .get(&(at.to_owned(), i))
            .is_none_or(|c| c.holds(&v));
        holds.then(|| t.goto.clone())
    })
}

/// Facts, slots and policy values as conditions and messages see them.
fn view(flow: &Flow, state: &FlowState) -> Facts {
    let p = &flow.spec.policy;
    let mut v = Facts::new();
    v.insert(
        "policy.return_window_days".into(),
        p.return_window_days.to_string(),
    );
    v.insert(
        "policy.late_after_days".into(),
        p.late_after_days.to_string(),
    );
    v.insert(
        "policy.handoff_after_days_late".into(),
        p.handoff_after_days_late.to_string(),
    );
    for r in &p.resolutions {
        v.insert(format!("policy.allows.{r}"), "true".into());
    }
    v.extend(state.facts.clone());
    v.extend(state.slots.clone());
    v
}

fn pure_tool(
    flow: &Flow,
    state: &FlowState,
    input: &TurnInput<'_>,
    tool: &str,
    args: &Facts,
) -> Option<Facts> {
    let p = &flow.spec.policy;
    let arg = |k: &str| args.get(k).map(String::as_str).unwrap_or("");
    Some(match tool {
        "order.lookup" => {
            let product = input.slots.get("product").map(String::as_str).unwrap_or("");
            facts::order_lookup(input.context, arg("order_id"), product, input.lang)
        }
        "return.eligibility" => facts::return_eligibility(
            p,
            &view(flow, state),
            input.context,
            input.today,
            input.lang,
        ),
        "delivery.check" => facts::delivery_check(p, &view(flow, state), input.today),
        _ => return None,
    })
}

fn say(flow: &Flow, state: &mut FlowState, lang: Lang, key: &str) -> Result<(), String> {
    let m = flow.spec.messages.get(key).ok_or_else(|| key.to_owned())?;
    let text = fill(lang.pick(&m.en, &m.it), &view(flow, state))?;
    state.reply.said.push(Said {
        key: key.to_owned(),
        text,
    });
    Ok(())
}

/// Fills `{name}` from facts; a missing name is an error naming it.
pub fn fill(template: &str, facts: &Facts) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| "unclosed {".to_owned())?;
        let name = &after[..close];
        let value = facts
            .get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| name.to_owned())?;
        out.push_str(value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Fills `{name}`; missing names become empty (tool arguments may be optional).
fn fill_lenient(template: &str, facts: &Facts) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        out.push_str(facts.get(&after[..close]).map(String::as_str).unwrap_or(""));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// One request a flow step makes of a tool: what its idempotency key names. The arguments are
/// not part of it: "the office", "home", then "the office" again are three requests, and the
/// third must reach the backend like the first did.
#[derive(Debug, Clone, Copy)]
pub struct ToolRequest<'a> {
    /// Conversation id.
    pub conversation: &'a str,
    /// Turn index in the conversation (increasing, also across restarts).
    pub turn: u32,
    /// Flow name.
    pub flow: &'a str,
    /// Step name.
    pub step: &'a str,
    /// Tool name.
    pub tool: &'a str,
    /// The step's run in this turn, from 1 (a step a turn loops back to calls again).
    pub run: u32,
}

impl ToolRequest<'_> {
    /// sha256 of the request's parts (hex, 32 chars): the same for every attempt of this
    /// request, different for any other request.
    pub fn idempotency_key(&self) -> String {
        let mut h = Sha256::new();
        for part in [self.conversation, self.flow, self.step, self.tool] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(self.turn.to_be_bytes());
        h.update(self.run.to_be_bytes());
        hex::encode(&h.finalize()[..16])
    }
}
