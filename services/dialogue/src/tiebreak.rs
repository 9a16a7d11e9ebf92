//! Tie-breaking with the language model's constrained output: when the understanding's margin
//! between its two best intents is small, the model chooses between exactly those two labels
//! (logits of every other token masked, so the answer is always one of them). Measured with
//! `nlu-eval --tiebreak MARGIN` before use: see the README for whether it pays off.

use parla_llm::{ChatMessage, Constraint, GenerationParams, GenerationRequest, LanguageModel};

use crate::{Analysis, Intent, Language};

/// What an intent means, for the prompt.
fn describe(intent: Intent) -> &'static str {
    match intent {
        Intent::Return => "return, exchange or refund an item",
        Intent::OrderStatus => "where an order is or when it arrives",
        Intent::DeliveryProblem => "a delivery that went wrong: late, lost, damaged, wrong item",
        Intent::ProductAdvice => "advice on which product to buy",
        Intent::Complaint => "a complaint about the shop or its service",
        Intent::Human => "wants to talk to a person",
        Intent::StoreInfo => "shop information: hours, addresses, payment, shipping costs",
        Intent::Greeting => "a greeting",
        Intent::Goodbye => "a goodbye or thanks at the end",
        Intent::OutOfScope => "anything unrelated to the shop",
    }
}

/// The model's choice between the analysis's intent and its runner-up (blocking: call it from
/// a blocking thread). Errors are the model's.
pub fn choose(
    model: &dyn LanguageModel,
    conversation_id: &str,
    text: &str,
    lang: Language,
    a: &Analysis,
) -> Result<Intent, parla_llm::LlmError> {
    let options = [a.intent, a.runner_up];
    let labels: Vec<String> = options.iter().map(|i| i.as_str().to_owned()).collect();
    let listing: String = options
        .iter()
        .map(|i| format!("- {}: {}\n", i.as_str(), describe(*i)))
        .collect();
    let language = match lang {
        Language::En => "English",
        Language::It => "Italian",
    };
    let messages = vec![
        ChatMessage::system(
            "You label customer messages sent to an online clothing shop's support. Answer with the label only.",
        ),
        ChatMessage::user(format!(
            "Customer message ({language}): {}\nLabels:\n{listing}Label:",
            crate::redact(text).text
        )),
    ];
    let request = GenerationRequest {
        params: GenerationParams::greedy(8),
        constraint: Some(Constraint::Labels(labels)),
        ..GenerationRequest::new(conversation_id, messages)
    };
    let out = model.generate(request)?.blocking_finish()?;
    Ok(Intent::parse(out.text.trim()).unwrap_or(a.intent))
}
