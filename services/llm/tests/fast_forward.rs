//! The hybrid forward (dense prompt batches, Q8_0 decoding, fused projections, GQA without
//! KV-head copies) and the forward on the file's own Q4_1 blocks (`fast_forward = off`) must
//! both write the same greedy text as candle's stock `quantized_llama`.

mod stock;

use candle_transformers::models::quantized_llama::ModelWeights;
use parla_llm::{
    CandleModel, ChatMessage, FastForward, GenerationParams, GenerationRequest, LanguageModel,
    LlmConfig,
};
use parla_models::ModelCache;

#[tokio::test]
async fn hybrid_forward_writes_the_reference_greedy_text() {
    let config = LlmConfig {
        fast_forward: FastForward::On,
        ..LlmConfig::default()
    };
    let model = CandleModel::load(&config, &ModelCache::from_env().unwrap())
        .expect("default model provisioned");
    assert!(model.info().fast_forward);
    let messages = vec![
        ChatMessage::system(
            "You are a helpful customer support agent for an outdoor clothing shop.",
        ),
        ChatMessage::user("What is the capital of France?"),
    ];
    let req = GenerationRequest {
        params: GenerationParams::greedy(24),
        ..GenerationRequest::new("ref", messages.clone())
    };
    let hybrid = model.generate(req.clone()).unwrap().finish().await.unwrap();
    let file_blocks = CandleModel::load(
        &LlmConfig {
            fast_forward: FastForward::Off,
            ..LlmConfig::default()
        },
        &ModelCache::from_env().unwrap(),
    )
    .unwrap();
    assert!(!file_blocks.info().fast_forward);
    let quantized = file_blocks.generate(req).unwrap().finish().await.unwrap();

    // The stock path, on the same prompt tokens.
    let prompt = model.prompt_tokens(&messages).unwrap();
    let path = model.info().path.clone();
    let eos = model.eos_tokens().to_vec();
    let reference = stock::greedy::<ModelWeights>(path, prompt, eos, 24).await;
    let reference = model.decode(&reference);
    assert!(!reference.is_empty());
    assert_eq!(hybrid.text, reference);
    assert_eq!(quantized.text, reference);
}
