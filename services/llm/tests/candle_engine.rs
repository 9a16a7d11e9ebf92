//! The candle backend with the real default model (SmolLM2-135M-Instruct from the model cache):
//! seeded determinism on this machine, streaming, cancellation, prefix caching, budgets, bad input.

use std::sync::OnceLock;
use std::time::Duration;

mod common;

use parla_llm::{
    CandleModel, ChatMessage, GenerationParams, GenerationRequest, LanguageModel, LlmConfig,
    LlmError, StopReason,
};
use parla_models::ModelCache;

fn model() -> &'static CandleModel {
    static MODEL: OnceLock<CandleModel> = OnceLock::new();
    MODEL.get_or_init(|| load(&LlmConfig::default()))
}

fn load(config: &LlmConfig) -> CandleModel {
    let cache = ModelCache::from_env().expect("model cache");
    CandleModel::load(config, &cache)
        .expect("the default model is provisioned (parla models fetch smollm2-135m)")
}

fn support_chat(question: &str) -> Vec<ChatMessage> {
    vec![
        ChatMessage::system(
            "You are a friendly customer support agent for an outdoor clothing shop.",
        ),
        ChatMessage::user(question),
    ]
}

fn request(conv: &str, messages: Vec<ChatMessage>, params: GenerationParams) -> GenerationRequest {
    GenerationRequest {
        params,
        ..GenerationRequest::new(conv, messages)
    }
}

/// Same seed, same text, on this machine. No committed snapshot: sampled text depends on the
/// last bits of the logits, and those on the order of floating-point sums, which differs
/// between CPUs (cache sizes pick gemm's blocking, AVX-512 or AVX2 picks the kernels). The
/// kernels themselves are checked against candle's stock forward in `fast_forward.rs`.
#[tokio::test]
async fn seeded_generation_is_deterministic() {
    let params = GenerationParams {
        temperature: 0.8,
        top_p: 0.9,
        seed: 7,
        max_tokens: 40,
        ..Default::default()
    };
    let messages = support_chat("Can I return a jacket I bought last week?");
    // Its own engine: a cached prefix changes how the prompt is batched, and with it the last
    // bits of the logits, so both runs start from the same (empty) cache.
    let model = load(&LlmConfig::default());
    let first = model
        .generate(request("seed-a", messages.clone(), params.clone()))
        .unwrap()
        .finish()
        .await
        .unwrap();
    model.forget("seed-a");
    let second = model
        .generate(request("seed-b", messages, params))
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert!(!first.text.trim().is_empty());
    assert!(first.usage.completion_tokens > 0);
    assert_eq!(first.text, second.text);
    assert_eq!(
        first.usage.completion_tokens,
        second.usage.completion_tokens
    );
}

#[tokio::test]
async fn streams_deltas_and_stops_on_budgets() {
    common::streams_deltas_up_to_max_tokens(model()).await;

    let params = GenerationParams {
        time_budget: Some(Duration::from_millis(1)),
        ..GenerationParams::greedy(200)
    };
    let out = model()
        .generate(request("budget", support_chat("Hello"), params))
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert_eq!(out.stop_reason, StopReason::TimeBudget);
}

#[tokio::test]
async fn stop_sequence_ends_generation_without_the_sequence() {
    let free = GenerationParams {
        min_tokens: 30,
        ..GenerationParams::greedy(30)
    };
    let messages = support_chat("Describe a rain jacket in two sentences.");
    let out = model()
        .generate(request("stop-a", messages.clone(), free.clone()))
        .unwrap()
        .finish()
        .await
        .unwrap();
    // Stop at the second word of the greedy reply.
    let word = out
        .text
        .split_whitespace()
        .nth(1)
        .expect("a reply of several words")
        .to_owned();
    let params = GenerationParams {
        stop: vec![word.clone()],
        ..free
    };
    let stopped = model()
        .generate(request("stop-b", messages, params))
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert_eq!(stopped.stop_reason, StopReason::Stop);
    assert!(
        !stopped.text.contains(&word),
        "{:?} contains {word:?}",
        stopped.text
    );
    assert!(out.text.starts_with(&stopped.text));
}

#[tokio::test]
async fn cancellation_stops_within_one_token() {
    // Its own engine, so the token counter sees no other test's work.
    let model = load(&LlmConfig::default());
    let produced = || {
        model
            .stats()
            .generated_tokens
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    common::cancellation_stops_within_one_token(&model, &produced).await;
}

#[tokio::test]
async fn second_turn_processes_only_its_new_tokens() {
    // Its own engine, so the counter sees no other test's work.
    let model = load(&LlmConfig::default());
    let before = model.stats().prompt_tokens_processed();
    let mut messages = support_chat("Hi, I ordered a tent last week. When will it arrive?");
    let turn1 = model
        .generate(request(
            "conv",
            messages.clone(),
            GenerationParams::greedy(24),
        ))
        .unwrap()
        .finish()
        .await
        .unwrap();
    let after1 = model.stats().prompt_tokens_processed();
    assert_eq!(after1 - before, turn1.usage.prompt_tokens as u64);
    assert_eq!(turn1.usage.cached_prompt_tokens, 0);

    messages.push(ChatMessage::assistant(turn1.text.clone()));
    let question = "And can I change the delivery address?";
    messages.push(ChatMessage::user(question));
    let turn2 = model
        .generate(request(
            "conv",
            messages.clone(),
            GenerationParams::greedy(8),
        ))
        .unwrap()
        .finish()
        .await
        .unwrap();
    let processed = model.stats().prompt_tokens_processed() - after1;
    assert_eq!(processed, turn2.usage.processed_prompt_tokens as u64);
    assert!(
        turn2.usage.cached_prompt_tokens >= turn1.usage.prompt_tokens,
        "{:?}",
        turn2.usage
    );
    // New tokens: the end of the reply's turn, the question and the template's glue. Had the
    // reply not been cached too, at least its tokens would have been processed again.
    let new_tokens =
        turn2.usage.prompt_tokens - turn1.usage.prompt_tokens - turn1.usage.completion_tokens;
    assert!(
        processed as usize <= new_tokens + 2,
        "processed {processed}, new {new_tokens}: {:?}",
        turn2.usage
    );
    assert!(processed > 0);

    // Another conversation with the same system prompt starts from the shared prefix.
    let other = model
        .generate(request(
            "other",
            support_chat("Do you sell gloves?"),
            GenerationParams::greedy(4),
        ))
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert!(other.usage.cached_prompt_tokens >= 16, "{:?}", other.usage);
}

#[tokio::test]
async fn bad_requests_and_files_give_clear_errors() {
    let bad = GenerationParams {
        top_p: 0.0,
        ..Default::default()
    };
    let err = model()
        .generate(request("bad", support_chat("hi"), bad))
        .unwrap()
        .finish()
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::InvalidRequest(_)), "{err}");
    let err = model()
        .generate(request("empty", vec![], Default::default()))
        .unwrap()
        .finish()
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::InvalidRequest(_)), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.gguf");
    let config = LlmConfig {
        model: missing.display().to_string(),
        ..Default::default()
    };
    let err = CandleModel::load(&config, &ModelCache::new(dir.path()))
        .err()
        .expect("missing file fails");
    assert!(err.to_string().contains("missing.gguf"), "{err}");
    let corrupt = dir.path().join("corrupt.gguf");
    std::fs::write(&corrupt, b"GGUF this is not a model").unwrap();
    let config = LlmConfig {
        model: corrupt.display().to_string(),
        ..Default::default()
    };
    let err = CandleModel::load(&config, &ModelCache::new(dir.path()))
        .err()
        .expect("corrupt file fails");
    assert!(matches!(err, LlmError::ModelLoad { .. }), "{err}");
    let config = LlmConfig {
        model: "no-such-model".into(),
        ..Default::default()
    };
    assert!(CandleModel::load(&config, &ModelCache::new(dir.path())).is_err());
}
