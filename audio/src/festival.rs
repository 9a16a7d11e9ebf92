//! Italian speech from Debian's Festival diphone voices (`festival` with `festvox-itapc16k`,
//! male, and `festvox-italp16k`, female; `scripts/prepare.sh` installs them), for tests and
//! benchmarks that need an Italian caller. Whisper hears these voices far better than eSpeak
//! NG's Italian (services/asr/README.md, *Italian*). Festival reads ISO-8859-1 text.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{i16_to_f32, read_wav, resample, AudioError};

/// What went wrong making Festival speak.
#[derive(Debug, thiserror::Error)]
pub enum FestivalError {
    /// `text2wave` could not run or failed.
    #[error("text2wave: {0} (scripts/prepare.sh installs festival, festvox-itapc16k and festvox-italp16k)")]
    Run(String),
    /// Its WAV could not be read or resampled.
    #[error("festival's wav: {0}")]
    Audio(#[from] AudioError),
}

/// `text` spoken in Italian by the male (`pc_diphone`) or female (`lp_diphone`) voice, as
/// 16 kHz mono samples in [-1, 1].
pub fn festival(text: &str, female: bool) -> Result<Vec<f32>, FestivalError> {
    static RUN: AtomicU64 = AtomicU64::new(0);
    let latin1: Vec<u8> = text
        .chars()
        .map(|c| match c {
            '\u{2019}' | '\u{2018}' => b'\'',
            c if (c as u32) < 256 => c as u8,
            _ => b' ',
        })
        .collect();
    let wav = std::env::temp_dir().join(format!(
        "parla-festival-{}-{}.wav",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let voice = if female {
        "(voice_lp_diphone)"
    } else {
        "(voice_pc_diphone)"
    };
    let mut child = Command::new("text2wave")
        .arg("-eval")
        .arg(voice)
        .arg("-o")
        .arg(&wav)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| FestivalError::Run(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&latin1)
            .map_err(|e| FestivalError::Run(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| FestivalError::Run(e.to_string()))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&wav);
        return Err(FestivalError::Run(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    let read = read_wav(&wav);
    let _ = std::fs::remove_file(&wav);
    let wav = read?;
    let samples = i16_to_f32(&wav.samples);
    Ok(resample(&samples, wav.sample_rate, 16_000)?)
}
