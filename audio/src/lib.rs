//! Audio helpers shared by Parla's speech services: G.711 mu-law and A-law
//! codecs (the telephone edge), a streaming windowed-sinc resampler (voices
//! speak at 22,050 Hz, the system runs at 16 kHz, phones at 8 kHz), WAV
//! file reading and writing (tests, tools, recordings) and Italian test
//! speech from Festival (`festival`).
//!
//! Samples are signed 16-bit (`i16`) or `f32` in [-1, 1]; everything is mono.

pub mod festival;
mod g711;
#[cfg(feature = "onnx")]
pub mod onnx;
mod pcm;
mod resample;
mod wav;

pub use g711::{
    alaw_decode, alaw_decode_sample, alaw_encode, alaw_encode_sample, mulaw_decode,
    mulaw_decode_sample, mulaw_encode, mulaw_encode_sample,
};
pub use pcm::{f32_to_i16, i16_to_f32, pcm16le_from_bytes, pcm16le_to_bytes};
pub use resample::{resample, Resampler};
pub use wav::{read_wav, read_wav_bytes, wav_bytes, write_wav, Wav};

/// What can go wrong with audio.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// A sample rate of zero, or a pair of rates the resampler cannot relate.
    #[error("unsupported sample rate conversion {from} Hz -> {to} Hz: {reason}")]
    UnsupportedRate {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
        /// Why.
        reason: &'static str,
    },
    /// A WAV file that is not one this module reads.
    #[error("not a supported WAV file: {0}")]
    BadWav(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
}
