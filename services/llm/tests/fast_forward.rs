//! The hybrid forward (dense prompt batches, Q8_0 decoding, fused projections, GQA without
//! KV-head copies) and the forward on the file's own Q4_1 blocks (`fast_forward = off`) must
//! both write the same greedy text as candle's stock `quantized_llama`, computed here on the
//! same machine, on every kernel path this CPU runs (`scalar`, `avx2`, and `avx512` where the
//! CPU has it), so one AVX-512 machine covers what an AVX2-only machine runs.

mod stock;

use candle_transformers::models::quantized_llama::ModelWeights;
use parla_llm::{
    CandleModel, ChatMessage, FastForward, GenerationParams, GenerationRequest, Kernels,
    LanguageModel, LlmConfig,
};
use parla_models::ModelCache;

#[tokio::test]
async fn every_forward_and_kernel_path_writes_the_reference_greedy_text() {
    let cache = ModelCache::from_env().unwrap();
    let load = |fast_forward, kernels| {
        CandleModel::load(
            &LlmConfig {
                fast_forward,
                kernels,
                ..LlmConfig::default()
            },
            &cache,
        )
        .expect("default model provisioned")
    };
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

    // The stock path, on the same prompt tokens.
    let first = load(FastForward::On, Kernels::Scalar);
    let prompt = first.prompt_tokens(&messages).unwrap();
    let path = first.info().path.clone();
    let eos = first.eos_tokens().to_vec();
    let reference = stock::greedy::<ModelWeights>(path, prompt, eos, 24).await;
    let reference = first.decode(&reference);
    assert!(!reference.is_empty());
    drop(first);

    let cap = Kernels::cap_from_env().unwrap().unwrap_or(Kernels::Avx512);
    let paths: Vec<Kernels> = Kernels::PATHS
        .into_iter()
        .filter(|k| k.supported() && *k <= cap)
        .collect();
    eprintln!(
        "kernel paths checked: {paths:?} (widest on this CPU: {:?})",
        Kernels::widest()
    );
    assert!(paths.contains(&Kernels::Scalar));
    for kernels in paths {
        for fast_forward in [FastForward::On, FastForward::Off] {
            let model = load(fast_forward, kernels);
            assert_eq!(model.info().kernels, kernels.name());
            assert_eq!(model.info().fast_forward, fast_forward == FastForward::On);
            let out = model.generate(req.clone()).unwrap().finish().await.unwrap();
            assert_eq!(
                out.text, reference,
                "kernels {kernels:?}, fast forward {fast_forward:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_kernel_path_the_cpu_or_the_cap_rules_out_is_refused_at_load() {
    let cache = ModelCache::from_env().unwrap();
    match Kernels::PATHS.into_iter().find(|k| !k.supported()) {
        Some(kernels) => {
            let err = CandleModel::load(
                &LlmConfig {
                    kernels,
                    ..LlmConfig::default()
                },
                &cache,
            )
            .err()
            .expect("a path the CPU lacks is refused");
            assert!(err.to_string().contains("auto"), "{err}");
        }
        // Every path runs on this CPU: rule AVX-512 out through the cap instead.
        None => {
            let err = Kernels::Avx512.resolve(Some(Kernels::Avx2)).unwrap_err();
            assert!(err.contains("PARLA_MAX_KERNELS"), "{err}");
        }
    }
}
