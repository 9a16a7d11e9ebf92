//! Bad input with the real default model: a prompt longer than the context window is cut from
//! its oldest turns with a log line and says so in its result; a truncated or unprovisioned
//! model fails at load with a message naming the file or the fetch command.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use parla_llm::{
    CandleModel, ChatMessage, GenerationParams, GenerationRequest, LanguageModel, LlmConfig,
    LlmError, StopReason,
};
use parla_models::ModelCache;

/// Everything logged by the process, for the tests that expect a log line.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .try_init();
        buffer
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn small_window() -> &'static CandleModel {
    static MODEL: OnceLock<CandleModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        logs();
        let config = LlmConfig {
            context_tokens: 256,
            ..LlmConfig::default()
        };
        CandleModel::load(&config, &ModelCache::from_env().unwrap())
            .expect("the default model is provisioned (parla models fetch smollm2-135m)")
    })
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

#[tokio::test]
async fn too_long_prompt_drops_the_oldest_turns_and_says_so() {
    let model = small_window();
    let mut messages = vec![ChatMessage::system("You are a support agent.")];
    for i in 0..40 {
        messages.push(ChatMessage::user(format!(
            "This is message number {i} about my order of hiking socks."
        )));
        messages.push(ChatMessage::assistant("Thank you, I have noted that."));
    }
    messages.push(ChatMessage::user("What did I order?"));
    let req = GenerationRequest {
        params: GenerationParams::greedy(16),
        ..GenerationRequest::new("long-history", messages.clone())
    };
    let out = model.generate(req).unwrap().finish().await.unwrap();
    assert!(out.usage.prompt_tokens <= 256 - 16, "{:?}", out.usage);
    assert!(out.usage.completion_tokens > 0);
    assert!(out.usage.dropped_messages > 0, "{:?}", out.usage);
    assert_eq!(out.usage.dropped_messages % 2, 0, "whole turns go");
    assert_eq!(out.usage.dropped_prompt_tokens, 0);

    // What ran: the system prompt and the latest turns, not the oldest ones.
    let kept = model.decode(&model.fitted_prompt_tokens(&messages, 16).unwrap());
    assert!(kept.contains("You are a support agent."), "{kept}");
    assert!(kept.contains("What did I order?"), "{kept}");
    assert!(kept.contains("message number 39 "), "{kept}");
    assert!(!kept.contains("message number 0 "), "{kept}");
    assert!(logged().contains("prompt too long"), "{}", logged());
}

#[tokio::test]
async fn one_message_longer_than_the_window_keeps_its_end() {
    let model = small_window();
    let mut text = String::from("Here is my whole story.");
    for i in 0..120 {
        text.push_str(&format!(" Sentence {i} of my complaint."));
    }
    text.push_str(" The end.");
    let messages = vec![
        ChatMessage::system("You are a support agent."),
        ChatMessage::user(text),
    ];
    let req = GenerationRequest {
        params: GenerationParams::greedy(8),
        ..GenerationRequest::new("long-message", messages.clone())
    };
    let out = model.generate(req).unwrap().finish().await.unwrap();
    assert!(out.usage.dropped_prompt_tokens > 0, "{:?}", out.usage);
    assert!(out.usage.prompt_tokens <= 256 - 8);
    assert!(matches!(
        out.stop_reason,
        StopReason::MaxTokens | StopReason::Eos
    ));
    let kept = model.decode(&model.fitted_prompt_tokens(&messages, 8).unwrap());
    assert!(
        kept.contains("Sentence 119 of my complaint. The end."),
        "{kept}"
    );
    assert!(!kept.contains("Sentence 0 "), "{kept}");
}

#[test]
fn a_truncated_model_file_fails_at_load_naming_it() {
    let real = ModelCache::from_env()
        .unwrap()
        .require("smollm2-135m")
        .expect("the default model is provisioned");
    let bytes = std::fs::read(real).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut-short.gguf");
    // The header and metadata survive, the tensors do not.
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let config = LlmConfig {
        model: cut.display().to_string(),
        ..LlmConfig::default()
    };
    let err = CandleModel::load(&config, &ModelCache::new(dir.path()))
        .err()
        .expect("a truncated file fails");
    assert!(matches!(err, LlmError::ModelLoad { .. }), "{err}");
    assert!(err.to_string().contains("cut-short.gguf"), "{err}");
}

#[test]
fn an_unprovisioned_model_names_the_fetch_command() {
    let dir = tempfile::tempdir().unwrap();
    for (name, command) in [
        ("smollm2-135m", "parla models fetch smollm2-135m"),
        ("quality", "parla models fetch qwen2.5-coder-1.5b"),
    ] {
        let config = LlmConfig {
            model: name.into(),
            ..LlmConfig::default()
        };
        let err = CandleModel::load(&config, &ModelCache::new(dir.path()))
            .err()
            .expect("an empty cache fails");
        assert!(matches!(err, LlmError::ModelMissing(_)), "{err}");
        assert!(err.to_string().contains(command), "{err}");
    }
}
