//! ASR benchmark (`cargo bench -p parla-asr`): prints the real-time factor
//! of each model, the latency from the last audio chunk to the final for
//! 2, 5 and 10 s utterances streamed in real time, the partial cadence,
//! how many concurrent real-time streams the machine sustains, and the
//! peak RSS. Speech is synthesized with eSpeak NG; `jfk.wav` is used when
//! the tests have cached it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parla_asr::{
    AsrConfig, AsrEngine, AsrPaths, AsrService, LanguageChoice, Pass, RecognitionRequest,
};
use parla_proto::v1::asr_client::AsrClient;
use parla_proto::v1::streaming_recognize_request::Request as Inbound;
use parla_proto::v1::streaming_recognize_response::Event;
use parla_proto::v1::{
    AudioChunk, AudioEncoding, AudioFormat, StreamingConfig, StreamingRecognizeRequest,
};

const CHUNK_MS: usize = 20;

fn paths() -> AsrPaths {
    let cache = parla_models::ModelCache::from_env().expect("model cache");
    let get = |n: &str| cache.require(n).expect("model provisioned");
    AsrPaths {
        model_en: Some(get("whisper-tiny-en")),
        model_multilingual: Some(get("whisper-base")),
        vad: get("silero-vad"),
        turn: get("smart-turn-v3.2"),
        onnxruntime: get("onnxruntime"),
    }
}

fn espeak(text: &str) -> Vec<f32> {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("s.wav");
    let ok = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "155", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng");
    assert!(ok.success());
    let wav = parla_audio::read_wav(&wav).expect("wav");
    parla_audio::resample(
        &parla_audio::i16_to_f32(&wav.samples),
        wav.sample_rate,
        16_000,
    )
    .expect("resample")
}

fn jfk_or_speech() -> Vec<f32> {
    let cache = parla_models::ModelCache::from_env().expect("cache");
    match parla_audio::read_wav(&cache.root().join("test-data/jfk.wav")) {
        Ok(w) => parla_audio::i16_to_f32(&w.samples),
        Err(_) => espeak("And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."),
    }
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

async fn rtf(engine: &AsrEngine, audio: &Arc<Vec<f32>>, language: &str) -> f64 {
    let secs = audio.len() as f64 / 16_000.0;
    let mut runs = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        engine
            .recognizer
            .recognize(RecognitionRequest {
                audio: Arc::clone(audio),
                language: LanguageChoice::Fixed(language.into()),
                pass: Pass::Final,
            })
            .await
            .expect("recognize");
        runs.push(started.elapsed().as_secs_f64() / secs);
    }
    median(runs)
}

struct StreamFigures {
    /// Wall time from sending the chunk at which the turn was decided to
    /// receiving the final.
    final_latency_ms: f64,
    /// Audio between the end of speech and the decision.
    endpoint_ms: u32,
    /// Stream offsets of the partials.
    partials: Vec<u32>,
    /// Wall times of the partials, in ms since the stream started.
    partial_wall_ms: Vec<f64>,
    ok: bool,
}

/// Streams `audio` in real time (20 ms chunks) and times the events.
async fn stream_real_time(url: String, audio: Arc<Vec<f32>>, partials: bool) -> StreamFigures {
    let format = AudioFormat {
        encoding: AudioEncoding::Pcm16le as i32,
        sample_rate_hz: 16_000,
    };
    let bytes = parla_audio::pcm16le_to_bytes(&parla_audio::f32_to_i16(&audio));
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tx.send(StreamingRecognizeRequest {
        request: Some(Inbound::Config(StreamingConfig {
            format: Some(format),
            language: "en".into(),
            partial_results: partials,
            conversation_id: "bench".into(),
        })),
    })
    .await
    .expect("config");
    let started = Instant::now();
    let chunk = CHUNK_MS * 32;
    let sender = tokio::spawn(async move {
        let mut sent_at = Vec::new();
        for (i, piece) in bytes.chunks(chunk).enumerate() {
            let due = started + Duration::from_millis((i * CHUNK_MS) as u64);
            tokio::time::sleep_until(due.into()).await;
            sent_at.push(Instant::now());
            let msg = StreamingRecognizeRequest {
                request: Some(Inbound::Audio(AudioChunk {
                    sequence: i as u64,
                    format: None,
                    data: piece.to_vec(),
                    offset_ms: 0,
                })),
            };
            if tx.send(msg).await.is_err() {
                break;
            }
        }
        sent_at
    });
    let mut client = AsrClient::connect(url).await.expect("connect");
    let mut inbound = client
        .streaming_recognize(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("open")
        .into_inner();
    let mut figures = StreamFigures {
        final_latency_ms: f64::NAN,
        endpoint_ms: 0,
        partials: vec![],
        partial_wall_ms: vec![],
        ok: false,
    };
    let mut final_at = None;
    loop {
        match inbound.message().await {
            Ok(Some(m)) => match m.event {
                Some(Event::Partial(p)) => {
                    figures.partials.push(p.offset_ms);
                    figures
                        .partial_wall_ms
                        .push(started.elapsed().as_secs_f64() * 1000.0);
                }
                Some(Event::Final(f)) if final_at.is_none() && f.end_reason != "no_speech" => {
                    final_at = Some((Instant::now(), f.decided_ms, f.end_ms));
                }
                _ => {}
            },
            Ok(None) => break,
            Err(status) => {
                eprintln!("stream failed: {status}");
                return figures;
            }
        }
    }
    let sent_at = sender.await.expect("sender");
    if let Some((at, decided_ms, end_ms)) = final_at {
        let index = (decided_ms as usize / CHUNK_MS)
            .saturating_sub(1)
            .min(sent_at.len() - 1);
        figures.final_latency_ms = at.duration_since(sent_at[index]).as_secs_f64() * 1000.0;
        figures.endpoint_ms = decided_ms.saturating_sub(end_ms);
        figures.ok = true;
    }
    figures
}

fn with_silence(speech: &[f32], ms: usize) -> Arc<Vec<f32>> {
    let mut v = vec![0.0; 4800];
    v.extend_from_slice(speech);
    v.extend(std::iter::repeat_n(0.0, ms * 16));
    Arc::new(v)
}

fn start_server(config: AsrConfig) -> (String, Arc<AsrEngine>) {
    let engine = Arc::new(AsrEngine::load(&paths(), &config).expect("engine"));
    let (tx, rx) = std::sync::mpsc::channel();
    let served = Arc::clone(&engine);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let cell = Arc::new(tokio::sync::OnceCell::new());
            cell.set(served).ok();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(format!("http://{}", listener.local_addr().expect("addr")))
                .expect("url");
            tonic::transport::Server::builder()
                .add_service(AsrService::new(cell).into_server())
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .expect("serve");
        });
    });
    (rx.recv().expect("url"), engine)
}

#[tokio::main]
async fn main() {
    // ASR_BENCH_THREADS / ASR_BENCH_WORKERS / ASR_BENCH_MARGIN_MS override
    // the pool's defaults (threads per recognition, recognitions at once,
    // the encoder window's margin).
    let mut config = AsrConfig::default();
    let env = |key: &str| std::env::var(key).ok().and_then(|v| v.parse::<u32>().ok());
    config.threads = env("ASR_BENCH_THREADS").unwrap_or(config.threads);
    config.workers = env("ASR_BENCH_WORKERS").unwrap_or(config.workers);
    config.encoder_margin_ms = env("ASR_BENCH_MARGIN_MS").unwrap_or(config.encoder_margin_ms);
    config.partial_encoder_margin_ms =
        env("ASR_BENCH_PARTIAL_MARGIN_MS").unwrap_or(config.partial_encoder_margin_ms);
    println!(
        "asr bench: workers {}, threads {}, encoder margin {} ms (partials {} ms), {} CPUs",
        config.workers,
        config.threads,
        config.encoder_margin_ms,
        config.partial_encoder_margin_ms,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let (url, engine) = start_server(config.clone());
    let jfk = Arc::new(jfk_or_speech());
    println!("real-time factor (11 s of speech, final pass, median of 3):");
    println!("  whisper tiny.en: {:.3}", rtf(&engine, &jfk, "en").await);
    let base_only = AsrPaths {
        model_en: None,
        ..paths()
    };
    let base = AsrEngine::load(&base_only, &config).expect("base engine");
    println!(
        "  whisper base (multilingual, en): {:.3}",
        rtf(&base, &jfk, "en").await
    );
    drop(base);

    let utterances = [
        ("2 s", "I want to return my jacket."),
        ("5 s", "Hello, I bought a blue jacket last week and I would like to return it please."),
        (
            "10 s",
            "Hello, I bought a blue jacket and a pair of shoes last week, but the jacket is too small and the shoes arrived damaged, so I would like to return both of them.",
        ),
    ];
    println!("last chunk to final, streamed in real time (20 ms chunks):");
    for (label, text) in utterances {
        let speech = espeak(text);
        let secs = speech.len() as f64 / 16_000.0;
        let mut latencies = Vec::new();
        let mut endpoint = 0;
        for _ in 0..2 {
            let f = stream_real_time(url.clone(), with_silence(&speech, 1500), false).await;
            latencies.push(f.final_latency_ms);
            endpoint = f.endpoint_ms;
        }
        println!("  {label} ({secs:.1} s): final {:.0} ms after the deciding chunk; turn decided {endpoint} ms of audio after speech ended", median(latencies));
    }

    let speech = espeak(utterances[2].1);
    let f = stream_real_time(url.clone(), with_silence(&speech, 1500), true).await;
    let gaps: Vec<f64> = f
        .partials
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64)
        .collect();
    let wall: Vec<f64> = f.partial_wall_ms.windows(2).map(|w| w[1] - w[0]).collect();
    println!(
        "partial cadence (10 s utterance): {} partials, median {:.0} ms of audio apart ({:.0} ms wall)",
        f.partials.len(),
        median(gaps),
        median(wall)
    );

    println!("concurrent real-time streams with partials (11 s of speech each); sustained = every final within 1 s:");
    let mut sustained = 0;
    for n in [1usize, 2, 3, 4, 6, 8] {
        let runs = (0..n).map(|_| {
            tokio::spawn(stream_real_time(
                url.clone(),
                with_silence(&jfk, 1500),
                true,
            ))
        });
        let results: Vec<StreamFigures> = futures::future::join_all(runs)
            .await
            .into_iter()
            .map(|r| r.expect("task"))
            .collect();
        let worst = results
            .iter()
            .map(|r| {
                if r.ok {
                    r.final_latency_ms
                } else {
                    f64::INFINITY
                }
            })
            .fold(0.0, f64::max);
        let partials: usize = results.iter().map(|r| r.partials.len()).sum();
        println!(
            "  {n} streams: worst final latency {worst:.0} ms, {:.1} partials per stream",
            partials as f64 / n as f64
        );
        if worst <= 1000.0 {
            sustained = n;
        } else {
            break;
        }
    }
    println!("sustained concurrent real-time streams: {sustained}");
    println!("peak RSS: {:.0} MB", peak_rss_mb());
}
