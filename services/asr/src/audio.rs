//! Caller audio into the recognizer's format (16 kHz mono f32): PCM16LE at
//! 8–24 kHz, G.711 mu-law and A-law at 8 kHz, and WAV files, resampled with
//! parla-audio's band-limited resampler (never by dropping samples).

use parla_audio::{alaw_decode, i16_to_f32, mulaw_decode, pcm16le_from_bytes, Resampler};

use crate::recognizer::SAMPLE_RATE;
use crate::AsrError;

/// How the bytes of a stream are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Signed 16-bit little-endian PCM.
    Pcm16le,
    /// G.711 mu-law.
    Mulaw,
    /// G.711 A-law.
    Alaw,
}

/// Encoding and sample rate of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpec {
    /// Encoding.
    pub encoding: Encoding,
    /// Samples per second.
    pub sample_rate: u32,
}

impl AudioSpec {
    /// Checks the rate against the encoding.
    pub fn validate(self) -> Result<Self, AsrError> {
        let ok = match self.encoding {
            Encoding::Pcm16le => matches!(self.sample_rate, 8000 | 16000 | 22050 | 24000),
            Encoding::Mulaw | Encoding::Alaw => self.sample_rate == 8000,
        };
        if ok {
            Ok(self)
        } else {
            Err(AsrError::BadAudio(format!(
                "sample rate {} Hz is not allowed for {:?}; allowed: 8000, 16000, 22050 or 24000 Hz for PCM16LE, 8000 Hz for mu-law and A-law",
                self.sample_rate, self.encoding
            )))
        }
    }

    /// Bytes per sample.
    pub fn bytes_per_sample(self) -> usize {
        match self.encoding {
            Encoding::Pcm16le => 2,
            Encoding::Mulaw | Encoding::Alaw => 1,
        }
    }
}

/// Decodes and resamples the chunks of one stream, keeping the
/// resampler's state across chunks.
pub struct StreamDecoder {
    spec: AudioSpec,
    resampler: Option<Resampler>,
}

impl StreamDecoder {
    /// A decoder for `spec` (validated).
    pub fn new(spec: AudioSpec) -> Result<Self, AsrError> {
        let spec = spec.validate()?;
        let resampler = if spec.sample_rate == SAMPLE_RATE {
            None
        } else {
            Some(
                Resampler::new(spec.sample_rate, SAMPLE_RATE)
                    .map_err(|e| AsrError::BadAudio(e.to_string()))?,
            )
        };
        Ok(Self { spec, resampler })
    }

    /// The stream's format.
    pub fn spec(&self) -> AudioSpec {
        self.spec
    }

    /// Decodes one chunk to 16 kHz samples.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<Vec<f32>, AsrError> {
        let samples = decode_samples(self.spec.encoding, bytes)?;
        Ok(match &mut self.resampler {
            Some(r) => r.process(&samples),
            None => samples,
        })
    }

    /// The resampler's tail at the end of the stream.
    pub fn flush(&mut self) -> Vec<f32> {
        self.resampler
            .as_mut()
            .map(Resampler::flush)
            .unwrap_or_default()
    }
}

fn decode_samples(encoding: Encoding, bytes: &[u8]) -> Result<Vec<f32>, AsrError> {
    Ok(match encoding {
        Encoding::Pcm16le => {
            if !bytes.len().is_multiple_of(2) {
                return Err(AsrError::BadAudio(format!(
                    "PCM16LE chunk has an odd number of bytes ({}); samples are 2 bytes each",
                    bytes.len()
                )));
            }
            i16_to_f32(&pcm16le_from_bytes(bytes))
        }
        Encoding::Mulaw => i16_to_f32(&mulaw_decode(bytes)),
        Encoding::Alaw => i16_to_f32(&alaw_decode(bytes)),
    })
}

/// Decodes a whole utterance of raw samples to 16 kHz.
pub fn decode_utterance(spec: AudioSpec, bytes: &[u8]) -> Result<Vec<f32>, AsrError> {
    let mut decoder = StreamDecoder::new(spec)?;
    let mut samples = decoder.decode(bytes)?;
    samples.extend(decoder.flush());
    Ok(samples)
}

/// Decodes a WAV file (any rate, PCM or G.711, channels mixed to mono) to
/// 16 kHz.
pub fn decode_wav(bytes: &[u8]) -> Result<Vec<f32>, AsrError> {
    let wav = parla_audio::read_wav_bytes(bytes).map_err(|e| AsrError::BadAudio(e.to_string()))?;
    let samples = i16_to_f32(&wav.samples);
    if wav.sample_rate == SAMPLE_RATE {
        return Ok(samples);
    }
    parla_audio::resample(&samples, wav.sample_rate, SAMPLE_RATE)
        .map_err(|e| AsrError::BadAudio(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_pcm_is_refused() {
        let mut d = StreamDecoder::new(AudioSpec {
            encoding: Encoding::Pcm16le,
            sample_rate: 16000,
        })
        .unwrap();
        assert!(matches!(d.decode(&[0, 0, 0]), Err(AsrError::BadAudio(_))));
        assert_eq!(d.decode(&[0, 0, 0, 0]).unwrap().len(), 2);
    }

    #[test]
    fn mulaw_needs_8k() {
        assert!(AudioSpec {
            encoding: Encoding::Mulaw,
            sample_rate: 16000
        }
        .validate()
        .is_err());
        let mut d = StreamDecoder::new(AudioSpec {
            encoding: Encoding::Mulaw,
            sample_rate: 8000,
        })
        .unwrap();
        let mut out = d.decode(&[0xff; 800]).unwrap();
        out.extend(d.flush());
        assert_eq!(out.len(), 1600);
    }
}
