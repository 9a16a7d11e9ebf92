//! Acceptance: provision the Whisper models into the real cache (`PARLA_CACHE` or
//! `~/.cache/parla`), convert them with our own converter, load the result with whisper.cpp
//! (through whisper-rs) and transcribe speech synthesised by eSpeak NG.
//!
//! Needs network on first run, and the `espeak-ng` and `sox` commands.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use parla_models::{fetch, ModelCache, ModelStatus, Progress};
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

/// Tests of this file run in parallel; one fetch at a time keeps the downloads from doubling.
static FETCH: Mutex<()> = Mutex::new(());

/// Provisions `name`, printing progress and the conversion time.
fn provision(name: &str) -> Result<std::path::PathBuf> {
    let _one_at_a_time = FETCH
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let cache = ModelCache::from_env()?;
    let mut converting_since = None;
    let paths = fetch(&cache, &[name], &mut |p| {
        eprintln!("{p:?}");
        match p {
            Progress::Converting { .. } => converting_since = Some(Instant::now()),
            Progress::Done { .. } => {
                if let Some(t) = converting_since {
                    eprintln!("conversion of {name} took {:.2?}", t.elapsed());
                }
            }
            _ => {}
        }
    })?;
    let manifest = parla_models::manifest(name)?;
    ensure!(matches!(cache.status(manifest), ModelStatus::Ready { .. }));
    paths.into_iter().next().context("fetch returned no path")
}

/// Speaks `text` with eSpeak NG and returns 16 kHz mono f32 samples.
fn speak(text: &str, voice: &str, dir: &Path) -> Result<Vec<f32>> {
    let wav = dir.join("speech.wav");
    let raw = dir.join("speech.f32");
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .context("run espeak-ng (apt-get install espeak-ng)")?;
    ensure!(status.success(), "espeak-ng failed: {status}");
    let status = Command::new("sox")
        .arg(&wav)
        .args([
            "-r",
            "16000",
            "-c",
            "1",
            "-e",
            "floating-point",
            "-b",
            "32",
            "-t",
            "raw",
        ])
        .arg(&raw)
        .status()
        .context("run sox (apt-get install sox)")?;
    ensure!(status.success(), "sox failed: {status}");
    let bytes = fs::read(&raw)?;
    let mut samples: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    // Half a second of silence either side, as a caller's VAD would leave.
    let pad = vec![0.0f32; 8000];
    samples.splice(0..0, pad.iter().copied());
    samples.extend_from_slice(&pad);
    Ok(samples)
}

fn transcribe(model: &Path, samples: &[f32], language: &str) -> Result<String> {
    let model = model.to_str().context("model path is not UTF-8")?;
    let ctx = WhisperContext::new_with_params(model, WhisperContextParameters::default())?;
    let mut state = ctx.create_state()?;
    let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    params.set_language(Some(language));
    params.set_n_threads(2);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_special(false);
    let started = Instant::now();
    state.full(params, samples)?;
    let mut text = String::new();
    for segment in state.as_iter() {
        text.push_str(&segment.to_str_lossy()?);
    }
    eprintln!(
        "transcribed {:.2} s of audio in {:.2?}: {text:?}",
        samples.len() as f32 / 16_000.0,
        started.elapsed()
    );
    Ok(text)
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Checks the header of a converted file: magic and the eleven hyperparameters.
fn header(path: &Path) -> Result<Vec<i32>> {
    let mut bytes = vec![0u8; 48];
    std::io::Read::read_exact(&mut fs::File::open(path)?, &mut bytes)?;
    let ints: Vec<i32> = bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if ints[0] as u32 != 0x6767_6d6c {
        bail!("bad magic {:#x}", ints[0]);
    }
    Ok(ints[1..].to_vec())
}

const SENTENCE: &str = "please check the status of my order";

/// Provisions `name`, checks its ggml header and transcribes the English
/// sentence spoken by eSpeak NG word for word.
fn converts_and_transcribes(name: &str, hyperparameters: [i32; 11]) -> Result<()> {
    let model = provision(name)?;
    eprintln!(
        "{} is {} bytes",
        model.display(),
        fs::metadata(&model)?.len()
    );
    assert_eq!(header(&model)?, hyperparameters);
    let dir = tempfile::tempdir()?;
    let text = transcribe(&model, &speak(SENTENCE, "en-us", dir.path())?, "en")?;
    assert_eq!(words(&text), words(SENTENCE), "transcript: {text:?}");
    Ok(())
}

#[test]
fn whisper_tiny_en_converts_and_transcribes_espeak_speech() -> Result<()> {
    converts_and_transcribes(
        "whisper-tiny-en",
        [51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1],
    )
}

#[test]
fn whisper_base_converts_and_transcribes_espeak_speech() -> Result<()> {
    converts_and_transcribes(
        "whisper-base",
        [51865, 1500, 512, 8, 6, 448, 512, 8, 6, 80, 1],
    )
}

#[test]
fn whisper_base_transcribes_italian() -> Result<()> {
    const FRASE: &str = "vorrei controllare lo stato del mio ordine";
    let model = provision("whisper-base")?;
    let dir = tempfile::tempdir()?;
    let text = transcribe(&model, &speak(FRASE, "it", dir.path())?, "it")?;
    assert_eq!(words(&text), words(FRASE), "transcript: {text:?}");
    Ok(())
}
