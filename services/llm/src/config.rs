//! Settings of the language model engine; every field has a default. `parla.toml` reaches them
//! through `[dialogue]`: `llm_model` names the model, `llm_backend` and `[dialogue.openai]` pick
//! an OpenAI-compatible endpoint instead; the other fields keep their defaults there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Kernels;

/// Which engine answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LlmBackend {
    /// candle on this machine's CPU, with a GGUF file.
    #[default]
    Candle,
    /// An OpenAI-compatible HTTP endpoint (vLLM, llama.cpp server, TGI, ...).
    Openai,
}

/// Language model settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// `candle` (local CPU) or `openai` (HTTP endpoint).
    pub backend: LlmBackend,
    /// The GGUF model: a model cache name (`smollm2-135m`) or a path to a `.gguf` file.
    pub model: String,
    /// Prompt tokens of a conversation kept in the context window; older turns are dropped first.
    /// 0 means the model's own context length (capped at 8192).
    pub context_tokens: usize,
    /// Most conversations whose prompt prefix stays cached.
    pub prefix_cache_entries: usize,
    /// Memory the cached prefixes may use, in MiB; least recently used conversations go first.
    pub prefix_cache_mib: usize,
    /// Longest prompt chunk run in one step; smaller chunks let other conversations in sooner.
    pub prefill_chunk: usize,
    /// Fast forward: dense weights for prompt batches, fused projections, and the file's Q4_1
    /// blocks (other types as Q8_0) for single tokens (`auto` enables it for models under 1 B
    /// parameters, whose dense copy fits in memory).
    pub fast_forward: FastForward,
    /// Vector instructions of the quantized single-token kernels: `auto` (the widest this CPU
    /// has: `avx512` with VNNI, else `avx2`), or one of `avx512`, `avx2`, `scalar`; a path the
    /// CPU lacks is refused at load. `PARLA_MAX_KERNELS` caps it for every model of a process.
    pub kernels: Kernels,
    /// Engine threads, for prompt batches (matrix products of 8 rows or more) and single tokens
    /// (rows of each matrix split over them); 0 = every core.
    pub threads: usize,
    /// The OpenAI-compatible backend's settings.
    pub openai: OpenAiConfig,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            backend: LlmBackend::Candle,
            model: "smollm2-135m".into(),
            context_tokens: 0,
            prefix_cache_entries: 64,
            prefix_cache_mib: 512,
            prefill_chunk: 512,
            fast_forward: FastForward::Auto,
            kernels: Kernels::Auto,
            threads: 0,
            openai: OpenAiConfig::default(),
        }
    }
}

/// Whether the hybrid dense/Q8_0 forward is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FastForward {
    /// On for models under 1 B parameters.
    #[default]
    Auto,
    /// Always (needs 4 bytes of memory per parameter).
    On,
    /// Never: the file's own quantized weights for everything.
    Off,
}

/// Settings of the OpenAI-compatible backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiConfig {
    /// The API root, ending before `/chat/completions` (e.g. `http://127.0.0.1:8000/v1`).
    pub base_url: String,
    /// The model name the endpoint serves.
    pub model: String,
    /// Bearer token; empty for none.
    #[serde(serialize_with = "parla_seal::redacted")]
    pub api_key: String,
    /// Milliseconds allowed to connect.
    pub connect_timeout_ms: u64,
    /// Milliseconds allowed until the response headers arrive.
    pub request_timeout_ms: u64,
    /// Milliseconds allowed between two chunks of a streamed answer.
    pub idle_timeout_ms: u64,
    /// Retries after a 429, a 5xx or a refused connection, before any text was streamed.
    pub max_retries: u32,
    /// First backoff in milliseconds; doubles on each retry (a `Retry-After` header wins).
    pub backoff_ms: u64,
    /// Parameters added to every request body beside the standard ones, for a server's own
    /// extensions (e.g. `repetition_penalty = 1.1` for vLLM or llama.cpp's server). Empty by
    /// default: strict OpenAI-compatible servers refuse unknown parameters. A key Parla sets
    /// itself (`model`, `messages`, `stream`, `temperature`, `top_p`, `max_tokens`, `seed`,
    /// `stop`, `guided_choice`, `response_format`) is refused when the backend is created.
    pub extra_body: BTreeMap<String, serde_json::Value>,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8000/v1".into(),
            model: "default".into(),
            api_key: String::new(),
            connect_timeout_ms: 2_000,
            request_timeout_ms: 30_000,
            idle_timeout_ms: 15_000,
            max_retries: 3,
            backoff_ms: 200,
            extra_body: BTreeMap::new(),
        }
    }
}
