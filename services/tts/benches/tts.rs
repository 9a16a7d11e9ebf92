//! Speech synthesis benchmark: per voice, time to the first 20 ms audio
//! chunk of a two-sentence reply (as a phone stream gets it: mu-law 8 kHz),
//! real-time factor on a paragraph, and how many real-time streams two
//! cores sustain. Run: `cargo bench -p parla-tts`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parla_models::ModelCache;
use parla_tts::output::{Encoder, Encoding, OutputFormat};
use parla_tts::text::{plan, Lang, SentenceBuffer};
use parla_tts::{PiperFiles, Tone, TtsConfig, VoiceBank};

const REPLY_EN: &str = "I'm sorry about the delay with your order. I've issued a refund of €49.90, which you will see within five days.";
/// The same reply opening with a clause break: Piper synthesizes the first
/// clause alone, so its audio starts sooner.
const REPLY_EN_CLAUSE: &str = "I'm so sorry about this, your order is late. I've issued a refund of €49.90, which you will see within five days.";
const REPLY_IT: &str = "Mi dispiace per il ritardo del suo ordine. Ho emesso un rimborso di €49.90, che vedrà entro cinque giorni.";

/// Time until the first encoded chunk of a streamed reply, in ms.
fn first_audio(bank: &VoiceBank, voice: &str, reply: &str) -> f64 {
    let v = bank.resolve("", voice).expect("voice").clone();
    let lang = Lang::from_tag(&v.info.language);
    let format =
        OutputFormat::resolve(Some(Encoding::Mulaw), 8000, v.info.sample_rate).expect("format");
    let started = Instant::now();
    let mut enc = Encoder::new(format, v.info.sample_rate, Some(20)).expect("encoder");
    let mut buffer = SentenceBuffer::new(false);
    let mut first = None;
    // The dialogue manager's deltas arrive word by word.
    let mut sentences = Vec::new();
    for word in reply.split_inclusive(' ') {
        sentences.extend(buffer.push(word));
    }
    sentences.extend(buffer.finish());
    for s in sentences {
        let pieces = plan(&s, false, lang).expect("plan");
        bank.speak(&v, Tone::Neutral, &pieces, &mut |pcm| {
            if !enc.push(pcm).is_empty() && first.is_none() {
                first = Some(started.elapsed());
            }
        })
        .expect("speak");
    }
    first.unwrap_or_default().as_secs_f64() * 1000.0
}

/// Seconds of synthesis per second of audio.
fn rtf(bank: &VoiceBank, voice: &str, text: &str) -> (f64, f64) {
    let v = bank.resolve("", voice).expect("voice").clone();
    let pieces = plan(text, false, Lang::from_tag(&v.info.language)).expect("plan");
    let mut samples = 0usize;
    let started = Instant::now();
    bank.speak(&v, Tone::Neutral, &pieces, &mut |pcm| samples += pcm.len())
        .expect("speak");
    let audio = samples as f64 / f64::from(v.info.sample_rate);
    (started.elapsed().as_secs_f64() / audio, audio)
}

/// Audio seconds produced per wall second by `streams` threads speaking at once.
fn capacity(bank: &Arc<VoiceBank>, voice: &str, text: &str, streams: usize) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(4);
    let started = Instant::now();
    let handles: Vec<_> = (0..streams)
        .map(|_| {
            let bank = bank.clone();
            let voice = voice.to_owned();
            let text = text.to_owned();
            std::thread::spawn(move || {
                let v = bank.resolve("", &voice).expect("voice").clone();
                let pieces = plan(&text, false, Lang::from_tag(&v.info.language)).expect("plan");
                let mut samples = 0usize;
                while Instant::now() < deadline {
                    bank.speak(&v, Tone::Neutral, &pieces, &mut |pcm| samples += pcm.len())
                        .expect("speak");
                }
                samples as f64 / f64::from(v.info.sample_rate)
            })
        })
        .collect();
    let audio: f64 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    audio / started.elapsed().as_secs_f64()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let root = std::env::var_os("PARLA_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| ModelCache::default_root().expect("cache root"));
    let cache = ModelCache::new(root);
    let piper = PiperFiles {
        model: cache
            .require("piper-joe")
            .expect("parla models fetch piper-joe"),
        onnxruntime: cache
            .require("onnxruntime")
            .expect("parla models fetch onnxruntime"),
    };
    let t = Instant::now();
    // PIPER_THREADS and PIPER_SPINNING=0/1 override the defaults.
    let defaults = TtsConfig::default();
    let config = TtsConfig {
        piper_threads: std::env::var("PIPER_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(defaults.piper_threads),
        piper_spinning: std::env::var("PIPER_SPINNING")
            .map_or(defaults.piper_spinning, |v| v != "0"),
        ..defaults
    };
    let bank = Arc::new(VoiceBank::load(&config, Some(&piper)).expect("load"));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average: {}",
        load.split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    println!(
        "voices loaded in {:.0} ms (Piper: {} sessions x {} threads, spinning {}, warmed up)",
        t.elapsed().as_secs_f64() * 1000.0,
        config.piper_sessions,
        config.piper_threads,
        config.piper_spinning
    );
    println!(
        "{:<10} {:>14} {:>14} {:>8} {:>22}",
        "voice", "first p50 ms", "first p90 ms", "RTF", "real-time streams (2c)"
    );
    println!("* the reply opens with a clause break (\"I'm so sorry about this, ...\")");
    for (voice, reply) in [
        ("joe", REPLY_EN),
        ("joe", REPLY_EN_CLAUSE),
        ("espeak-en", REPLY_EN),
        ("espeak-it", REPLY_IT),
    ] {
        first_audio(&bank, voice, reply); // warm-up
        let mut firsts: Vec<f64> = (0..10).map(|_| first_audio(&bank, voice, reply)).collect();
        let (r, audio) = rtf(&bank, voice, &format!("{reply} {reply} {reply}"));
        let streams = capacity(&bank, voice, reply, 4);
        let label = if reply == REPLY_EN_CLAUSE {
            format!("{voice}*")
        } else {
            voice.to_owned()
        };
        println!(
            "{label:<10} {:>14.1} {:>14.1} {:>8.3} {:>22.1}   ({audio:.1} s paragraph)",
            percentile(&mut firsts, 0.5),
            percentile(&mut firsts, 0.9),
            r,
            streams
        );
    }
}
