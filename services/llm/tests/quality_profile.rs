//! The opt-in quality profile: Qwen2.5-Coder-1.5B-Instruct Q4_K_M (qwen2 architecture) on the
//! project's own forward. The model is 1.1 GB (88 s to fetch here) and these tests take about
//! 2 minutes on 2 busy cores, so they are opt-in: each test is skipped, with a message saying
//! how to run it, unless `PARLA_QUALITY_TESTS=1` is set and the model is in the cache.
//! `PARLA_FETCH_QUALITY=1` provisions it first (`parla models fetch quality` does the same).

mod stock;

use std::sync::OnceLock;

use candle_transformers::models::quantized_qwen2::ModelWeights;
use parla_llm::LlmConfig;
use parla_llm::{CandleModel, ChatMessage, GenerationParams, GenerationRequest, LanguageModel};
use parla_models::{manifest, ModelCache, ModelStatus};

const MODEL: &str = "qwen2.5-coder-1.5b";

/// The loaded model, or `None` (after printing why) when it is not provisioned.
fn quality() -> Option<&'static CandleModel> {
    static LOADED: OnceLock<Option<CandleModel>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let cache = ModelCache::from_env().expect("model cache");
            let fetch = std::env::var_os("PARLA_FETCH_QUALITY").is_some();
            if !fetch && std::env::var_os("PARLA_QUALITY_TESTS").is_none() {
                eprintln!(
                    "SKIPPED: the quality profile tests are opt-in; set PARLA_QUALITY_TESTS=1 \
                     (model provisioned with `parla models fetch quality`) or PARLA_FETCH_QUALITY=1"
                );
                return None;
            }
            if fetch {
                parla_models::fetch(&cache, &["quality"], &mut |p| eprintln!("{p:?}"))
                    .expect("fetch the quality model");
            }
            let ready = matches!(
                cache.status(manifest(MODEL).expect("manifest")),
                ModelStatus::Ready { .. }
            );
            if !ready {
                eprintln!(
                    "SKIPPED: {MODEL} is not provisioned (1.1 GB); run `parla models fetch quality` \
                     or set PARLA_FETCH_QUALITY=1 to run the quality profile tests"
                );
                return None;
            }
            let config = LlmConfig {
                model: "quality".into(),
                ..LlmConfig::default()
            };
            Some(CandleModel::load(&config, &cache).expect("the quality model loads"))
        })
        .as_ref()
}

fn shop_chat(question: &str) -> Vec<ChatMessage> {
    vec![
        ChatMessage::system(
            "You are a customer support agent for an outdoor clothing shop. Answer in one short \
             sentence, in the customer's language, using only these facts:\n\
             - Returns are free within 30 days of delivery when the item is unworn.\n\
             - The Breeze jacket is a light windbreaker at 89 euros.\n\
             - The Summit parka is filled with down, rated to minus 20 degrees, at 249 euros.",
        ),
        ChatMessage::user(question),
    ]
}

#[tokio::test]
async fn quality_model_answers_from_the_facts_and_reuses_its_prefix() {
    let Some(model) = quality() else { return };
    let info = model.info();
    assert_eq!(info.architecture, "qwen2");
    assert!(info.parameters > 1_000_000_000);
    assert!(
        !info.fast_forward,
        "1.5 B parameters: the file's own quantized weights"
    );

    let mut messages = shop_chat("I bought the Breeze jacket last week. Can I still return it?");
    let req = GenerationRequest {
        params: GenerationParams::greedy(40),
        ..GenerationRequest::new("quality-1", messages.clone())
    };
    let first = model.generate(req).unwrap().finish().await.unwrap();
    eprintln!("quality reply: {:?} {:?}", first.text, first.usage);
    assert!(first.text.contains("30"), "{}", first.text);

    messages.push(ChatMessage::assistant(first.text.clone()));
    messages.push(ChatMessage::user("Thanks. And which jacket is warmer?"));
    let req = GenerationRequest {
        params: GenerationParams::greedy(40),
        ..GenerationRequest::new("quality-1", messages.clone())
    };
    let second = model.generate(req).unwrap().finish().await.unwrap();
    eprintln!("quality reply: {:?} {:?}", second.text, second.usage);
    let prompt = model.prompt_tokens(&messages).unwrap().len();
    // Only the new turn ran: the system prompt, first question and first answer were cached.
    assert!(second.usage.cached_prompt_tokens > prompt / 2);
    assert_eq!(
        second.usage.processed_prompt_tokens,
        prompt - second.usage.cached_prompt_tokens
    );
    assert!(second.text.contains("Summit"), "{}", second.text);
}

#[tokio::test]
async fn quality_forward_writes_the_stock_qwen2_greedy_text() {
    let Some(model) = quality() else { return };
    let messages = shop_chat("Posso restituire la giacca Breeze? È troppo leggera.");
    let req = GenerationRequest {
        params: GenerationParams::greedy(24),
        ..GenerationRequest::new("quality-ref", messages.clone())
    };
    let ours = model.generate(req).unwrap().finish().await.unwrap();
    let prompt = model.prompt_tokens(&messages).unwrap();
    let path = model.info().path.clone();
    let eos = model.eos_tokens().to_vec();
    let reference = stock::greedy::<ModelWeights>(path, prompt, eos, 24).await;
    let reference = model.decode(&reference);
    eprintln!("ours: {:?}\nstock: {:?}", ours.text, reference);
    assert_eq!(ours.text, reference);
}
