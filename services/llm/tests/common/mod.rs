//! Checks every backend must pass, written against the `LanguageModel` trait only.

use parla_llm::{
    ChatMessage, GenerationEvent, GenerationParams, GenerationRequest, LanguageModel, StopReason,
};

fn chat(question: &str) -> Vec<ChatMessage> {
    vec![
        ChatMessage::system(
            "You are a friendly customer support agent for an outdoor clothing shop.",
        ),
        ChatMessage::user(question),
    ]
}

/// Deltas add up to the final text; `max_tokens` stops it and says so.
pub async fn streams_deltas_up_to_max_tokens(model: &dyn LanguageModel) {
    let params = GenerationParams {
        max_tokens: 12,
        min_tokens: 12,
        ..GenerationParams::greedy(12)
    };
    let req = GenerationRequest {
        params,
        ..GenerationRequest::new("stream", chat("Tell me about your tents."))
    };
    let mut stream = model.generate(req).unwrap();
    let mut joined = String::new();
    let mut deltas = 0;
    let out = loop {
        match stream.next().await.expect("stream ends with Done").unwrap() {
            GenerationEvent::Delta(t) => {
                deltas += 1;
                joined.push_str(&t);
            }
            GenerationEvent::Done(out) => break out,
        }
    };
    assert!(deltas > 1, "text came in {deltas} delta(s)");
    assert_eq!(joined, out.text);
    assert_eq!(out.stop_reason, StopReason::MaxTokens);
    assert_eq!(out.usage.completion_tokens, 12);
    assert!(stream.next().await.is_none(), "nothing after Done");
}

/// Cancelling after the first delta ends generation within one token: at most one token more
/// than the backend had produced (`produced`, read right after cancelling) when the cancel came.
pub async fn cancellation_stops_within_one_token(
    model: &dyn LanguageModel,
    produced: &dyn Fn() -> u64,
) {
    let params = GenerationParams {
        min_tokens: 300,
        ..GenerationParams::greedy(300)
    };
    let req = GenerationRequest {
        params,
        ..GenerationRequest::new("cancel", chat("Write a long story about boots."))
    };
    let cancel = req.cancel.clone();
    let mut stream = model.generate(req).unwrap();
    let mut at_cancel = None;
    let out = loop {
        match stream.next().await.expect("stream ends with Done").unwrap() {
            GenerationEvent::Delta(_) if at_cancel.is_none() => {
                cancel.cancel();
                at_cancel = Some(produced());
            }
            GenerationEvent::Delta(_) => {}
            GenerationEvent::Done(out) => break out,
        }
    };
    let at_cancel = at_cancel.expect("a delta before the end");
    assert_eq!(out.stop_reason, StopReason::Cancelled);
    // One more token may have been under way when the cancel arrived.
    assert!(
        out.usage.completion_tokens as u64 <= at_cancel + 1,
        "{} tokens generated, {at_cancel} when cancelled",
        out.usage.completion_tokens
    );
    assert!(out.usage.completion_tokens < 300);
}
