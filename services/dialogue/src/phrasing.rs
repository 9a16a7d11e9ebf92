//! The last step of a turn, after the template reply is chosen: the grounding check, and the
//! wording by a capable language model when one is configured. Facts always come from the CRM
//! and flow results (the template's variables and the customer's context), never from the model:
//! a model draft naming any number, id, amount, date or product that is not a fact, or leaving
//! out one the template states, is rejected, regenerated once, then replaced by the template.
//! The model is an improvement only: whatever becomes of it — down, an error, a cut stream, a
//! refusal, nothing within `phrasing_budget_ms` (one deadline for every draft of the turn) —
//! the customer gets the template reply in the same turn, and the model's [`ModelHealth`]
//! records it (degraded in logs and counters, no hand-off).
//!
//! [`ModelHealth`]: crate::ModelHealth

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parla_llm::{ChatMessage, GenerationParams, GenerationRequest, LlmError, StopReason};

use crate::grounding::{self, Facts};
use crate::turn::facts::{format_date, Vars};
use crate::turn::{ConversationState, TurnOutcome};
use crate::{confidence, Channel, DialogueConfig, Engine, Language, RenderRequest, Tone};

/// Steps whose fixed wording is never handed to a model (safety and hand-off messages).
const FIXED_STEPS: [&str; 4] = ["handoff", "handoff_waiting", "injection", "apology_error"];

/// How long past the budget a backend that ignores it is waited for before it is cancelled.
const BUDGET_GRACE: Duration = Duration::from_millis(30);

static FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// Replies that kept their template because the model failed or ran out of time (metrics).
pub fn fallbacks_total() -> u64 {
    FALLBACKS.load(Ordering::Relaxed)
}

/// Everything a reply may state at this turn: the template's variables, the literal wording of
/// the step's templates (policy figures such as "5 working days"), and the customer's CRM
/// context (orders, their products, prices and dates, open returns). The catalogue's other
/// products are known, so naming one is a violation.
pub fn turn_facts(engine: &Engine, state: &ConversationState, o: &TurnOutcome) -> Facts {
    let mut facts = Facts::new();
    for (key, value) in &o.facts {
        if key == "product" {
            facts.allow_product(value);
        } else {
            facts.allow_text(value);
        }
    }
    // A catalogue product the turn's facts do not name is a violation when said.
    facts.know_catalogue(&state.catalogue, o.facts.values().map(String::as_str));
    for (_, _, wording) in engine.templates.wordings(o.language, o.step) {
        facts.allow_text(wording);
    }
    if let Some(ctx) = state.context.as_ref() {
        for order in &ctx.recent_orders {
            facts.allow_text(&order.id).allow_text(&order.carrier);
            facts.allow_text(&minor(order.total_minor));
            for t in [
                &order.placed_at,
                &order.delivered_at,
                &order.expected_delivery,
            ]
            .into_iter()
            .flatten()
            {
                facts.allow_text(&format_date(t.seconds, o.language));
            }
            for line in &order.lines {
                facts.allow_product(&line.name).allow_text(&line.size);
                facts.allow_text(&minor(line.unit_price_minor));
            }
        }
        for r in &ctx.open_returns {
            facts.allow_text(&r.rma_id).allow_text(&r.order_id);
        }
    }
    facts
}

/// "8900" minor units → "89.00".
fn minor(v: i64) -> String {
    format!("{}.{:02}", v / 100, (v % 100).abs())
}

/// Checks the template reply, lets a capable model word it, and records the outcome in `o`
/// (reply, `rejected_replies`, `model_phrased`, confidence). A model that fails or runs out of
/// `phrasing_budget_ms` leaves the template reply.
pub async fn finish(
    engine: &Engine,
    config: &DialogueConfig,
    state: &mut ConversationState,
    customer_text: &str,
    o: &mut TurnOutcome,
) {
    let facts = turn_facts(engine, state, o);
    let violations = facts.check(&o.reply);
    let template_rejected = !violations.is_empty();
    if template_rejected {
        grounding::count_rejection(&state.id, "template", &violations);
        o.rejected_replies += 1;
        let fallback = if o.decision.handoff {
            "handoff"
        } else {
            "clarify"
        };
        o.reply = render(engine, state, o, fallback).unwrap_or_else(|| honest(o.language));
        o.step = fallback;
    }
    let phrase = engine.llm.as_ref().filter(|m| m.phrases);
    let started = Instant::now();
    if let Some(llm) = phrase.filter(|m| {
        !FIXED_STEPS.contains(&o.step) && o.rejected_replies == 0 && m.health.may_try(started)
    }) {
        let deadline = started + Duration::from_millis(config.phrasing_budget_ms);
        let draft = strip_markup(&o.reply);
        for attempt in 0..2u64 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match generate(llm, state, customer_text, o, &draft, attempt, left).await {
                Draft::Text(text) => {
                    llm.health.record_ok(&llm.description);
                    let mut violations = facts.check(&text);
                    violations.extend(facts.dropped(
                        o.facts.values().map(String::as_str),
                        &draft,
                        &text,
                    ));
                    if violations.is_empty() {
                        o.reply = text;
                        o.model_phrased = true;
                        break;
                    }
                    grounding::count_rejection(&state.id, "model", &violations);
                    o.rejected_replies += 1;
                }
                Draft::Nothing { answered } => {
                    // Only a first draft had the whole budget: a regeneration left with the
                    // rest of it says nothing about the model.
                    if answered {
                        llm.health.record_ok(&llm.description);
                    } else if attempt == 0 {
                        llm.health
                            .record_failure(&llm.description, "timeout", Instant::now());
                    }
                    keep_template(state, "timeout", started);
                    break;
                }
                Draft::Failed(e) => {
                    let kind = error_kind(&e);
                    if model_unavailable(&e) {
                        llm.health
                            .record_failure(&llm.description, kind, Instant::now());
                    }
                    keep_template(state, kind, started);
                    break;
                }
            }
        }
    }
    // A template whose facts did not hold means Parla may be wrong about the turn; a model
    // draft rejected and replaced by the template says nothing about the understanding.
    if template_rejected {
        o.confidence *= confidence::REJECTED_FACTOR;
    }
    if let Some(last) = state.transcript.last_mut() {
        *last = format!("parla: {}", o.reply);
    }
}

/// Logs (without any text) and counts a reply that keeps its template because of the model.
fn keep_template(state: &ConversationState, kind: &str, started: Instant) {
    FALLBACKS.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        conversation = %state.id,
        kind,
        ms = started.elapsed().as_millis() as u64,
        fallbacks = fallbacks_total(),
        "phrasing gave nothing usable; template reply kept"
    );
}

/// What one request for a draft came to.
enum Draft {
    /// A wording to check.
    Text(String),
    /// Nothing usable in time; `answered`: the model had started to answer.
    Nothing { answered: bool },
    /// The model failed or refused.
    Failed(LlmError),
}

/// One model draft, within `budget`: the backend is told the budget, and cancelled if it does
/// not keep it.
async fn generate(
    llm: &crate::DialogueModel,
    state: &ConversationState,
    customer_text: &str,
    o: &TurnOutcome,
    draft: &str,
    attempt: u64,
    budget: Duration,
) -> Draft {
    let (language, style) = match (o.language, state.channel) {
        (Language::En, Channel::Voice) => ("English", "spoken on the phone: two or three short sentences, no lists, no markup"),
        (Language::En, Channel::Chat) => ("English", "for a web chat: concise"),
        (Language::It, Channel::Voice) => ("Italian", "spoken on the phone: two or three short sentences, no lists, no markup, in the formal register (third person of courtesy)"),
        (Language::It, Channel::Chat) => ("Italian", "for a web chat: concise, in the formal register (third person of courtesy)"),
    };
    let system = format!(
        "You are Parla, the customer support agent of an online clothing shop. Rewrite the draft \
         reply in {language}, in a {tone} tone, {style}. Keep its meaning, its order numbers and \
         product names, and every question it asks the customer. Use only the facts in \
         the draft: never add a number, date, amount, order id, product name or promise that is \
         not in it. Answer with the reply only.",
        tone = tone_word(o.tone)
    );
    let mut messages = vec![ChatMessage::system(system)];
    messages.push(ChatMessage::user(format!(
        "Customer: {}\nDraft reply: {draft}",
        crate::turn::model_input(customer_text)
    )));
    let request = GenerationRequest {
        params: GenerationParams {
            temperature: 0.3,
            top_p: 0.9,
            max_tokens: 160,
            seed: 7 + attempt * 7919 + u64::from(o.index),
            time_budget: Some(budget),
            ..GenerationParams::default()
        },
        ..GenerationRequest::new(format!("{}#phrase", state.id), messages)
    };
    let cancel = request.cancel.clone();
    let run = async { llm.model.generate(request)?.finish().await };
    let out = match tokio::time::timeout(budget + BUDGET_GRACE, run).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Draft::Failed(e),
        Err(_) => {
            cancel.cancel();
            return Draft::Nothing { answered: false };
        }
    };
    let text = out.text.trim();
    if text.is_empty()
        || matches!(
            out.stop_reason,
            StopReason::TimeBudget | StopReason::Cancelled
        )
    {
        return Draft::Nothing {
            answered: !out.text.is_empty(),
        };
    }
    Draft::Text(text.to_owned())
}

/// A short name of what went wrong, for logs and counters (never the model's text).
fn error_kind(e: &LlmError) -> &'static str {
    match e {
        LlmError::Endpoint { .. } => "endpoint",
        LlmError::Overloaded { .. } => "overloaded",
        LlmError::Disconnected { .. } => "disconnected",
        LlmError::Refused { .. } => "refused",
        LlmError::EngineStopped => "engine_stopped",
        LlmError::Inference(_) => "inference",
        LlmError::ConstraintViolated { .. } => "constraint",
        LlmError::InvalidRequest(_) | LlmError::Template(_) => "request",
        LlmError::ModelMissing(_)
        | LlmError::ModelLoad { .. }
        | LlmError::UnsupportedArchitecture(_) => "model",
    }
}

/// Errors that mean the model cannot answer at all (as opposed to a bad request or a
/// refusal): they make it degraded.
fn model_unavailable(e: &LlmError) -> bool {
    matches!(
        e,
        LlmError::Endpoint { .. }
            | LlmError::Overloaded { .. }
            | LlmError::Disconnected { .. }
            | LlmError::EngineStopped
            | LlmError::Inference(_)
    )
}

fn render(
    engine: &Engine,
    state: &ConversationState,
    o: &TurnOutcome,
    step: &str,
) -> Option<String> {
    engine
        .templates
        .render(&RenderRequest {
            lang: o.language,
            step,
            tone: o.tone,
            channel: state.channel,
            vars: &Vars::new(),
            seed: u64::from(o.index),
            ssml: state.channel == Channel::Voice,
        })
        .ok()
}

fn honest(lang: Language) -> String {
    match lang {
        Language::En => "I'm sorry, I can't help with that right now. I'll find you a colleague.",
        Language::It => "Mi dispiace, ora non riesco ad aiutarla. Le passo un collega.",
    }
    .to_owned()
}

fn tone_word(t: Tone) -> &'static str {
    match t {
        Tone::Neutral => "neutral, clear",
        Tone::Warm => "warm, friendly",
        Tone::Empathetic => "empathetic (acknowledge the customer's feelings first)",
        Tone::Apologetic => "apologetic (apologise for the company's mistake)",
        Tone::Upbeat => "upbeat, cheerful",
        Tone::Calm => "calm, short",
    }
}

/// Plain text of a reply (SSML tags removed).
fn strip_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        match c {
            '<' => inside = true,
            '>' if inside => inside = false,
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}
