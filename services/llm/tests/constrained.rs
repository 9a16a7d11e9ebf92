//! Structured output with the real default model: whatever the sampler wants, the output is
//! one of the labels, or JSON that parses into the requested fields.

use parla_llm::{
    CandleModel, ChatMessage, Constraint, GenerationParams, GenerationRequest, LanguageModel,
    LlmConfig, StopReason,
};
use parla_models::ModelCache;

fn classify_prompt(text: &str) -> Vec<ChatMessage> {
    vec![
        ChatMessage::system("Classify the customer's sentiment as positive, negative or neutral. Answer with one word."),
        ChatMessage::user(text),
    ]
}

#[tokio::test]
async fn constrained_output_is_always_valid() {
    let model = CandleModel::load(&LlmConfig::default(), &ModelCache::from_env().unwrap())
        .expect("default model");
    let labels: Vec<String> = ["positive", "negative", "neutral"]
        .map(String::from)
        .to_vec();
    let texts = [
        "I love this jacket, thank you!",
        "The zipper broke after one day.",
        "Where is my order?",
    ];
    for (i, text) in texts.iter().enumerate() {
        for seed in 0..2u64 {
            // A hot sampler: without the mask it would wander off.
            let params = GenerationParams {
                temperature: 1.5,
                top_p: 1.0,
                seed,
                max_tokens: 8,
                ..Default::default()
            };
            let req = GenerationRequest {
                params,
                constraint: Some(Constraint::Labels(labels.clone())),
                ..GenerationRequest::new(format!("label-{i}-{seed}"), classify_prompt(text))
            };
            let out = model.generate(req).unwrap().finish().await.unwrap();
            assert!(labels.contains(&out.text), "{:?} is not a label", out.text);
            assert_eq!(out.stop_reason, StopReason::Eos);
        }
    }

    let schema = serde_json::json!({"type": "object", "properties": {
        "intent": {"enum": ["return", "order_status", "product_question"]},
        "order_number": {"type": "integer"},
        "product": {"type": "string", "maxLength": 24},
        "urgent": {"type": "boolean"}}});
    let constraint = Constraint::from_json_schema(&schema).unwrap();
    for seed in 0..2u64 {
        let messages = vec![
            ChatMessage::system("Extract the customer's request as JSON."),
            ChatMessage::user(
                "Hi, I want to return the Breeze jacket from order 1042, it is too light.",
            ),
        ];
        let params = GenerationParams {
            temperature: 1.0,
            seed,
            max_tokens: 80,
            ..Default::default()
        };
        let req = GenerationRequest {
            params,
            constraint: Some(constraint.clone()),
            ..GenerationRequest::new("json", messages)
        };
        let out = model.generate(req).unwrap().finish().await.unwrap();
        assert_eq!(out.stop_reason, StopReason::Eos, "{:?}", out.text);
        let v: serde_json::Value =
            serde_json::from_str(&out.text).unwrap_or_else(|e| panic!("{:?}: {e}", out.text));
        assert!(
            v["intent"].is_string()
                && v["order_number"].is_i64()
                && v["product"].is_string()
                && v["urgent"].is_boolean(),
            "{v}"
        );
    }
}
