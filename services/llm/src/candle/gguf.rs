//! Reading a GGUF chat model: hyper-parameters, the tokenizer and the chat template all come
//! from the file's metadata, so any Llama- or Qwen2-family GGUF works without side files.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use minijinja::{context, Environment};
use tokenizers::Tokenizer;

use crate::{ChatMessage, LlmError};

/// Shape of a decoder-only transformer, from `<arch>.*` metadata.
#[derive(Debug, Clone)]
pub(crate) struct Hyper {
    pub arch: String,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub rms_eps: f64,
    pub rope_base: f32,
    pub context_length: usize,
    /// Rotary pairs (i, i + d/2) instead of (2i, 2i + 1).
    pub rope_neox: bool,
}

/// Everything but the weights.
pub(crate) struct ModelFile {
    pub content: Content,
    pub reader: BufReader<File>,
    pub hyper: Hyper,
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    pub eos_ids: Vec<u32>,
    pub vocab_size: usize,
}

fn load_err(path: &Path, reason: impl ToString) -> LlmError {
    LlmError::ModelLoad {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

impl ModelFile {
    pub(crate) fn open(path: &Path) -> Result<Self, LlmError> {
        let file = File::open(path).map_err(|e| load_err(path, e))?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader)
            .map_err(|e| load_err(path, format!("not a GGUF file: {e}")))?;
        let md = &content.metadata;
        let get_str = |k: &str| md.get(k).and_then(|v| v.to_string().ok()).cloned();
        let arch = get_str("general.architecture")
            .ok_or_else(|| load_err(path, "no general.architecture"))?;
        if arch != "llama" && arch != "qwen2" {
            return Err(LlmError::UnsupportedArchitecture(arch));
        }
        let num = |k: &str| -> Result<usize, LlmError> {
            md.get(&format!("{arch}.{k}"))
                .and_then(|v| v.to_u64().ok().or_else(|| v.to_u32().ok().map(u64::from)))
                .map(|v| v as usize)
                .ok_or_else(|| load_err(path, format!("missing metadata {arch}.{k}")))
        };
        let n_head = num("attention.head_count")?;
        let hidden = num("embedding_length")?;
        let hyper = Hyper {
            n_layer: num("block_count")?,
            n_head,
            n_kv_head: num("attention.head_count_kv").unwrap_or(n_head),
            head_dim: hidden / n_head.max(1),
            rms_eps: md
                .get(&format!("{arch}.attention.layer_norm_rms_epsilon"))
                .and_then(|v| v.to_f32().ok())
                .unwrap_or(1e-6) as f64,
            rope_base: md
                .get(&format!("{arch}.rope.freq_base"))
                .and_then(|v| v.to_f32().ok())
                .unwrap_or(10_000.0),
            context_length: num("context_length").unwrap_or(2048),
            rope_neox: arch == "qwen2",
            arch: arch.clone(),
        };
        if hyper.n_kv_head == 0 || !hyper.n_head.is_multiple_of(hyper.n_kv_head) {
            return Err(load_err(path, "head counts are inconsistent"));
        }
        let tokenizer = Tokenizer::from_gguf(&content)
            .map_err(|e| load_err(path, format!("tokenizer: {e}")))?;
        let tokens = md
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.to_vec().ok())
            .ok_or_else(|| load_err(path, "no tokenizer.ggml.tokens"))?;
        let token_str = |id: u32| {
            tokens
                .get(id as usize)
                .and_then(|v| v.to_string().ok())
                .cloned()
        };
        let id_of = |k: &str| md.get(k).and_then(|v| v.to_u32().ok());
        let mut eos_ids: Vec<u32> = id_of("tokenizer.ggml.eos_token_id").into_iter().collect();
        for name in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"] {
            if let Some(id) = tokenizer.token_to_id(name) {
                eos_ids.push(id);
            }
        }
        eos_ids.sort_unstable();
        eos_ids.dedup();
        let source = get_str("tokenizer.chat_template")
            .ok_or_else(|| load_err(path, "no tokenizer.chat_template"))?;
        let bos = id_of("tokenizer.ggml.bos_token_id")
            .and_then(token_str)
            .unwrap_or_default();
        let eos = id_of("tokenizer.ggml.eos_token_id")
            .and_then(token_str)
            .unwrap_or_default();
        let template = ChatTemplate::new(source, bos, eos).map_err(|e| load_err(path, e))?;
        Ok(Self {
            vocab_size: tokens.len(),
            content,
            reader,
            hyper,
            tokenizer,
            template,
            eos_ids,
        })
    }

    /// A rough parameter count, to decide whether a dense copy of the weights fits.
    pub(crate) fn parameter_count(&self) -> usize {
        self.content
            .tensor_infos
            .values()
            .map(|t| t.shape.elem_count())
            .sum()
    }
}

/// The chat template of the model, rendered with minijinja.
pub(crate) struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

impl ChatTemplate {
    pub(crate) fn new(source: String, bos: String, eos: String) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        env.add_template_owned("chat", source)
            .map_err(|e| format!("chat template does not parse: {e}"))?;
        Ok(Self { env, bos, eos })
    }

    /// The prompt for `messages`, ending where the assistant's reply starts.
    pub(crate) fn render(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        let msgs: Vec<HashMap<&str, &str>> = messages
            .iter()
            .map(|m| HashMap::from([("role", m.role.as_str()), ("content", m.content.as_str())]))
            .collect();
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| LlmError::Template(e.to_string()))?;
        tmpl.render(context! {
            messages => msgs,
            add_generation_prompt => true,
            bos_token => self.bos,
            eos_token => self.eos,
        })
        .map_err(|e| LlmError::Template(e.to_string()))
    }
}

/// Reads a metadata string (for `describe`).
pub(crate) fn metadata_string(content: &Content, key: &str) -> Option<String> {
    match content.metadata.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}
