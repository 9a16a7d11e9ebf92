//! The candle backend: a GGUF chat model on the CPU, served by one engine thread.

mod batch;
mod engine;
mod forward;
mod gguf;
mod kernels;
mod kv;
mod prefix_cache;
mod q4;
mod q8;
mod simd;

pub use self::simd::{Kernels, MAX_KERNELS_ENV};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use parla_models::ModelCache;
use tokenizers::Tokenizer;

use self::engine::{Command, Engine};
use self::forward::{KvCache, Transformer};
use self::gguf::{ChatTemplate, ModelFile};
use self::prefix_cache::PrefixCache;
use crate::{
    ChatMessage, FastForward, GenerationRequest, GenerationStream, LanguageModel, LlmConfig,
    LlmError,
};

/// Counters of the engine, readable while it runs.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Prompt tokens run through the model since load (cached tokens excluded).
    pub prompt_tokens_processed: AtomicU64,
    /// Prompt tokens served from the prefix cache since load.
    pub cached_prompt_tokens: AtomicU64,
    /// Tokens generated since load.
    pub generated_tokens: AtomicU64,
    /// Generations finished since load.
    pub generations: AtomicU64,
    /// Conversations in the prefix cache.
    pub cache_entries: AtomicUsize,
    /// Bytes of keys and values in the prefix cache.
    pub cache_bytes: AtomicUsize,
}

impl EngineStats {
    /// Prompt tokens run through the model since load.
    pub fn prompt_tokens_processed(&self) -> u64 {
        self.prompt_tokens_processed.load(Ordering::Relaxed)
    }
}

/// What was loaded.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The GGUF file.
    pub path: PathBuf,
    /// `llama` or `qwen2`.
    pub architecture: String,
    /// The model's name from its metadata.
    pub name: String,
    /// Parameters (elements of all tensors).
    pub parameters: usize,
    /// Context window used (tokens).
    pub context_tokens: usize,
    /// Whether the hybrid dense/Q8_0 forward is on.
    pub fast_forward: bool,
    /// The quantized kernels' instructions (`scalar`, `avx2` or `avx512`).
    pub kernels: &'static str,
    /// Milliseconds spent loading, warm-up included.
    pub load_ms: f64,
}

/// A GGUF chat model running on this machine's CPU.
pub struct CandleModel {
    commands: Mutex<mpsc::Sender<Command>>,
    stats: Arc<EngineStats>,
    info: ModelInfo,
    tokenizer: Arc<Tokenizer>,
    template: Arc<ChatTemplate>,
    eos_ids: Vec<u32>,
}

impl CandleModel {
    /// Loads the model named by `config.model` (a model cache name or a `.gguf` path).
    /// Blocks for the load; call it from a blocking thread.
    pub fn load(config: &LlmConfig, cache: &ModelCache) -> Result<Self, LlmError> {
        let path = if config.model.ends_with(".gguf") || config.model.contains('/') {
            let p = PathBuf::from(&config.model);
            if !p.is_file() {
                return Err(LlmError::ModelLoad {
                    path: p,
                    reason: "no such file".into(),
                });
            }
            p
        } else {
            let found = cache.require(&config.model)?;
            if found.is_dir() {
                find_gguf(&found)?
            } else {
                found
            }
        };
        Self::load_file(&path, config)
    }

    /// Loads a GGUF file.
    pub fn load_file(path: &Path, config: &LlmConfig) -> Result<Self, LlmError> {
        let started = Instant::now();
        let mut file = ModelFile::open(path)?;
        let parameters = file.parameter_count();
        let fast = match config.fast_forward {
            FastForward::On => true,
            FastForward::Off => false,
            FastForward::Auto => parameters < 1_000_000_000,
        };
        let limit = if config.context_tokens == 0 {
            8192
        } else {
            config.context_tokens
        };
        let context_tokens = file.hyper.context_length.min(limit).max(64);
        let simd = Kernels::cap_from_env()
            .and_then(|cap| config.kernels.simd(cap))
            .map_err(|reason| LlmError::ModelLoad {
                path: path.to_owned(),
                reason,
            })?;
        let model =
            Transformer::load(&mut file, fast, context_tokens, simd).map_err(|e| match e {
                LlmError::ModelLoad { reason, .. } => LlmError::ModelLoad {
                    path: path.to_owned(),
                    reason,
                },
                other => other,
            })?;
        // The engine runs on the first thread of its own pool, so candle's tensor operations
        // (prompt batches) and the single-token kernels use exactly `threads` threads, whatever
        // else runs in the process.
        let threads = match config.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("llm-engine-{i}"))
            .build()
            .map_err(|e| LlmError::Inference(format!("cannot start the engine threads: {e}")))?;
        // The int8 kernels repack their weights on first use: pay that now, on both paths.
        pool.install(|| -> Result<(), LlmError> {
            let mut warm = KvCache::default();
            model.forward(&[1; 8], &mut warm)?;
            model.forward(&[1], &mut warm)?;
            Ok(())
        })?;
        let decode_mib = model.decode_weight_bytes() >> 20;
        let name = gguf::metadata_string(&file.content, "general.name").unwrap_or_default();
        let info = ModelInfo {
            path: path.to_owned(),
            architecture: file.hyper.arch.clone(),
            name,
            parameters,
            context_tokens,
            fast_forward: fast,
            kernels: simd.name(),
            load_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        let stats = Arc::new(EngineStats::default());
        let tokenizer = Arc::new(file.tokenizer);
        let template = Arc::new(file.template);
        let engine = Engine {
            model,
            tokenizer: tokenizer.clone(),
            template: template.clone(),
            eos_ids: file.eos_ids.clone(),
            vocab_size: file.vocab_size,
            context_tokens,
            prefill_chunk: config.prefill_chunk,
            cache: PrefixCache::new(
                config.prefix_cache_entries.max(1),
                config.prefix_cache_mib << 20,
            ),
            stats: stats.clone(),
            token_texts: None,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("llm-engine".into())
            .spawn(move || pool.install(move || engine.run(rx)))
            .map_err(|e| LlmError::Inference(format!("cannot start the engine thread: {e}")))?;
        tracing::info!(path = %info.path.display(), architecture = %info.architecture, parameters, fast_forward = fast, kernels = simd.name(), threads, decode_mib, load_ms = info.load_ms, "language model loaded");
        Ok(Self {
            commands: Mutex::new(tx),
            stats,
            info,
            tokenizer,
            template,
            eos_ids: file.eos_ids,
        })
    }

    /// The engine's counters.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// What was loaded.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The prompt tokens the chat template and tokenizer make of `messages`.
    pub fn prompt_tokens(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, LlmError> {
        let prompt = self.template.render(messages)?;
        let enc = self
            .tokenizer
            .encode(prompt, false)
            .map_err(|e| LlmError::Template(format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The prompt tokens a generation with `max_tokens` would run for `messages`, after the
    /// oldest turns were dropped to fit the context window (see [`crate::GenerationUsage`]'s
    /// `dropped_messages`).
    pub fn fitted_prompt_tokens(
        &self,
        messages: &[ChatMessage],
        max_tokens: usize,
    ) -> Result<Vec<u32>, LlmError> {
        engine::fit_prompt(
            &self.template,
            &self.tokenizer,
            self.info.context_tokens,
            messages,
            max_tokens,
        )
        .map(|f| f.tokens)
    }

    /// The text of `tokens` (special tokens skipped).
    pub fn decode(&self, tokens: &[u32]) -> String {
        self.tokenizer.decode(tokens, true).unwrap_or_default()
    }

    /// Tokens that end the model's turn.
    pub fn eos_tokens(&self) -> &[u32] {
        &self.eos_ids
    }

    /// Drops a conversation's cached prefix (when the conversation ends).
    pub fn forget(&self, conversation_id: &str) {
        if let Ok(tx) = self.commands.lock() {
            let _ = tx.send(Command::Forget(conversation_id.to_owned()));
        }
    }
}

impl LanguageModel for CandleModel {
    fn generate(&self, request: GenerationRequest) -> Result<GenerationStream, LlmError> {
        let (events, stream) = GenerationStream::channel();
        let tx = self.commands.lock().map_err(|_| LlmError::EngineStopped)?;
        tx.send(Command::Generate {
            request,
            events,
            submitted: Instant::now(),
        })
        .map_err(|_| LlmError::EngineStopped)?;
        Ok(stream)
    }

    fn describe(&self) -> String {
        format!(
            "candle {} ({}, {})",
            self.info.name,
            self.info.architecture,
            self.info.path.display()
        )
    }
}

fn find_gguf(dir: &Path) -> Result<PathBuf, LlmError> {
    let entries = std::fs::read_dir(dir).map_err(|e| LlmError::ModelLoad {
        path: dir.to_owned(),
        reason: e.to_string(),
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
        .collect();
    found.sort();
    found.into_iter().next().ok_or_else(|| LlmError::ModelLoad {
        path: dir.to_owned(),
        reason: "no .gguf file in the model directory".into(),
    })
}
