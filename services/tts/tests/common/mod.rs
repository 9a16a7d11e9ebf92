//! Shared test helpers: the real voice bank (eSpeak NG and Piper from the
//! model cache) and a Whisper transcriber that listens to what it says.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use parla_models::ModelCache;
use parla_tts::{PiperFiles, Tone, TtsConfig, VoiceBank};
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

fn cache() -> ModelCache {
    let root = std::env::var_os("PARLA_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| ModelCache::default_root().expect("model cache root"));
    ModelCache::new(root)
}

/// Piper files from the cache.
pub fn piper_files() -> PiperFiles {
    let cache = cache();
    PiperFiles {
        model: cache
            .require("piper-joe")
            .expect("parla models fetch piper-joe"),
        onnxruntime: cache
            .require("onnxruntime")
            .expect("parla models fetch onnxruntime"),
    }
}

/// One voice bank per test binary (eSpeak NG has one global state).
pub fn bank() -> Arc<VoiceBank> {
    static BANK: OnceLock<Arc<VoiceBank>> = OnceLock::new();
    BANK.get_or_init(|| {
        Arc::new(VoiceBank::load(&TtsConfig::default(), Some(&piper_files())).expect("voices load"))
    })
    .clone()
}

/// Speaks `text` (plain) with `voice`; returns samples at the voice's rate.
pub fn speak(voice: &str, text: &str, tone: Tone) -> (Vec<i16>, u32) {
    let bank = bank();
    let v = bank.resolve("", voice).expect("voice").clone();
    let lang = parla_tts::text::Lang::from_tag(&v.info.language);
    let pieces = parla_tts::text::plan(text, false, lang).expect("plan");
    let mut pcm = Vec::new();
    bank.speak(&v, tone, &pieces, &mut |p| pcm.extend_from_slice(p))
        .expect("speak");
    (pcm, v.info.sample_rate)
}

/// Transcribes 16-bit PCM at `rate` with Whisper (tiny.en for English,
/// base for other languages).
pub fn transcribe(pcm: &[i16], rate: u32, language: &str) -> String {
    static TINY: OnceLock<WhisperContext> = OnceLock::new();
    static BASE: OnceLock<WhisperContext> = OnceLock::new();
    let (cell, name) = if language == "en" {
        (&TINY, "whisper-tiny-en")
    } else {
        (&BASE, "whisper-base")
    };
    let ctx = cell.get_or_init(|| {
        let path = cache().require(name).expect("whisper model");
        WhisperContext::new_with_params(&path, WhisperContextParameters::default())
            .expect("whisper load")
    });
    let audio =
        parla_audio::resample(&parla_audio::i16_to_f32(pcm), rate, 16000).expect("resample");
    let mut state = ctx.create_state().expect("state");
    let mut params = FullParams::new(SamplingStrategy::BeamSearch {
        beam_size: 5,
        patience: 1.0,
    });
    params.set_language(Some(language));
    params.set_n_threads(2);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_timestamps(false);
    params.set_no_context(true);
    state.full(params, &audio).expect("whisper run");
    let mut text = String::new();
    for seg in state.as_iter() {
        text.push_str(&seg.to_string());
    }
    text.trim().to_owned()
}

/// Word error rate of `hyp` against `reference`, ignoring case and
/// punctuation.
pub fn wer(reference: &str, hyp: &str) -> f64 {
    let norm = |s: &str| -> Vec<String> {
        s.to_lowercase()
            .split(|c: char| c.is_whitespace() || c == '-')
            .map(|w| {
                w.chars()
                    .filter(|c| c.is_alphanumeric())
                    .collect::<String>()
            })
            .filter(|w| !w.is_empty())
            .collect()
    };
    let (r, h) = (norm(reference), norm(hyp));
    let mut d: Vec<Vec<usize>> = (0..=r.len()).map(|i| vec![i; h.len() + 1]).collect();
    d[0] = (0..=h.len()).collect();
    for i in 1..=r.len() {
        for j in 1..=h.len() {
            let sub = d[i - 1][j - 1] + usize::from(r[i - 1] != h[j - 1]);
            d[i][j] = sub.min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
        }
    }
    d[r.len()][h.len()] as f64 / r.len().max(1) as f64
}

/// The gRPC service on 127.0.0.1:0 with [`bank`]'s voices, and a client.
pub async fn client() -> parla_proto::v1::tts_client::TtsClient<tonic::transport::Channel> {
    let cell = Arc::new(tokio::sync::OnceCell::new());
    let bank = tokio::task::spawn_blocking(bank).await.unwrap();
    cell.set(bank).ok();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(parla_tts::TtsService::new(cell).into_server())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    parla_proto::v1::tts_client::TtsClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}
