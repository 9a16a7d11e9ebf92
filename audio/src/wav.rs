//! WAV (RIFF) files: reads PCM 8/16/24/32-bit, IEEE float and G.711
//! mu-law/A-law files (plain or WAVE_FORMAT_EXTENSIBLE), mixing channels
//! down to mono; writes mono 16-bit PCM.

use std::path::Path;

use crate::{alaw_decode_sample, mulaw_decode_sample, pcm16le_to_bytes, AudioError};

/// A mono signal read from or written to a WAV file.
#[derive(Debug, Clone, PartialEq)]
pub struct Wav {
    /// Samples per second.
    pub sample_rate: u32,
    /// Mono samples (channels of the file averaged).
    pub samples: Vec<i16>,
}

impl Wav {
    /// Length in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// Decodes one sample of one channel to a 16-bit-scaled value.
type SampleDecoder = dyn Fn(&[u8]) -> f32;

fn bad(msg: impl Into<String>) -> AudioError {
    AudioError::BadWav(msg.into())
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses a WAV file held in memory.
pub fn read_wav_bytes(bytes: &[u8]) -> Result<Wav, AudioError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("missing RIFF/WAVE header"));
    }
    let mut at = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    let mut data: Option<&[u8]> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4) as usize;
        let body_start = at + 8;
        // Streams written on the fly may carry a too-large data size.
        let body_end = body_start.saturating_add(size).min(bytes.len());
        let body = &bytes[body_start..body_end];
        match id {
            b"fmt " => {
                if body.len() < 16 {
                    return Err(bad("fmt chunk shorter than 16 bytes"));
                }
                let mut format = u16_at(body, 0);
                if format == 0xFFFE && body.len() >= 26 {
                    // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the code.
                    format = u16_at(body, 24);
                }
                fmt = Some((format, u16_at(body, 2), u32_at(body, 4), u16_at(body, 14)));
            }
            b"data" => data = Some(body),
            _ => {}
        }
        at = body_start.saturating_add(size).saturating_add(size & 1);
    }
    let (format, channels, sample_rate, bits) = fmt.ok_or_else(|| bad("no fmt chunk"))?;
    let data = data.ok_or_else(|| bad("no data chunk"))?;
    if channels == 0 || sample_rate == 0 {
        return Err(bad("zero channels or zero sample rate"));
    }
    let decode: Box<SampleDecoder> = match (format, bits) {
        (1, 8) => Box::new(|b| (f32::from(b[0]) - 128.0) * 256.0),
        (1, 16) => Box::new(|b| f32::from(i16::from_le_bytes([b[0], b[1]]))),
        (1, 24) => Box::new(|b| (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 16) as f32),
        (1, 32) => Box::new(|b| (i32::from_le_bytes([b[0], b[1], b[2], b[3]]) >> 16) as f32),
        (3, 32) => Box::new(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * 32768.0),
        (6, 8) => Box::new(|b| f32::from(alaw_decode_sample(b[0]))),
        (7, 8) => Box::new(|b| f32::from(mulaw_decode_sample(b[0]))),
        _ => {
            return Err(bad(format!(
                "format code {format} with {bits} bits per sample (supported: PCM 8/16/24/32, float 32, A-law, mu-law)"
            )))
        }
    };
    let width = usize::from(bits / 8);
    let frame = width * usize::from(channels);
    let samples = data
        .chunks_exact(frame)
        .map(|f| {
            let sum: f32 = f.chunks_exact(width).map(&decode).sum();
            (sum / f32::from(channels)).round().clamp(-32768.0, 32767.0) as i16
        })
        .collect();
    Ok(Wav {
        sample_rate,
        samples,
    })
}

/// Reads a WAV file.
pub fn read_wav(path: &Path) -> Result<Wav, AudioError> {
    let bytes = std::fs::read(path).map_err(|source| AudioError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_wav_bytes(&bytes)
}

/// A mono 16-bit PCM WAV file in memory.
pub fn wav_bytes(sample_rate: u32, samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(&pcm16le_to_bytes(samples));
    out
}

/// Writes a mono 16-bit PCM WAV file.
pub fn write_wav(path: &Path, sample_rate: u32, samples: &[i16]) -> Result<(), AudioError> {
    std::fs::write(path, wav_bytes(sample_rate, samples)).map_err(|source| AudioError::Io {
        path: path.to_owned(),
        source,
    })
}
