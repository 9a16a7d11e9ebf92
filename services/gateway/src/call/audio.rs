//! The caller's audio format: validation of the start message and of each
//! chunk, durations in stream time, and silence frames.

use parla_proto::v1 as pb;
use pb::AudioEncoding as Enc;

use super::CallError;

/// Length of one agent audio frame, in milliseconds.
pub const FRAME_MS: u64 = 20;

/// A validated audio format of a call (caller audio in, agent audio out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// Encoding of the samples.
    pub encoding: Enc,
    /// Samples per second.
    pub rate: u32,
}

impl Format {
    /// Checks a format from a `CallStart`.
    pub fn from_pb(f: Option<&pb::AudioFormat>) -> Result<Self, CallError> {
        let f = f.ok_or_else(|| CallError::Protocol("`start.format` is missing".into()))?;
        let encoding = Enc::try_from(f.encoding).unwrap_or(Enc::Unspecified);
        let ok = match encoding {
            Enc::Pcm16le => matches!(f.sample_rate_hz, 8000 | 16000 | 22050 | 24000),
            Enc::Mulaw | Enc::Alaw => f.sample_rate_hz == 8000,
            Enc::Unspecified => false,
        };
        if !ok {
            return Err(CallError::Protocol(format!(
                "unsupported audio format (encoding {}, {} Hz): use PCM16LE at 8000, 16000, 22050 or 24000 Hz, or MULAW/ALAW at 8000 Hz",
                f.encoding, f.sample_rate_hz
            )));
        }
        Ok(Self {
            encoding,
            rate: f.sample_rate_hz,
        })
    }

    /// The format as a protobuf message.
    pub fn to_pb(self) -> pb::AudioFormat {
        pb::AudioFormat {
            encoding: self.encoding as i32,
            sample_rate_hz: self.rate,
        }
    }

    /// Bytes per sample.
    pub fn sample_bytes(self) -> usize {
        if self.encoding == Enc::Pcm16le {
            2
        } else {
            1
        }
    }

    /// Samples in `bytes` bytes.
    pub fn samples(self, bytes: usize) -> u64 {
        (bytes / self.sample_bytes()) as u64
    }

    /// Bytes of one 20 ms frame (rounded down to whole samples).
    pub fn frame_bytes(self) -> usize {
        (self.rate as usize * FRAME_MS as usize / 1000) * self.sample_bytes()
    }

    /// Milliseconds of `samples` samples.
    pub fn ms(self, samples: u64) -> u64 {
        samples * 1000 / u64::from(self.rate)
    }

    /// The byte value of silence in this encoding.
    pub fn silence_byte(self) -> u8 {
        match self.encoding {
            Enc::Mulaw => 0xFF,
            Enc::Alaw => 0xD5,
            _ => 0,
        }
    }

    /// Checks one chunk of caller audio against the call's format.
    pub fn check_chunk(self, chunk: &pb::AudioChunk, max_bytes: usize) -> Result<(), CallError> {
        if let Some(f) = chunk.format.as_ref() {
            let same = f.encoding == self.encoding as i32 && f.sample_rate_hz == self.rate;
            let unset = f.encoding == 0 && f.sample_rate_hz == 0;
            if !same && !unset {
                return Err(CallError::BadAudio(format!(
                    "chunk {} has format (encoding {}, {} Hz) but the call started with (encoding {}, {} Hz); the format cannot change during a call",
                    chunk.sequence, f.encoding, f.sample_rate_hz, self.encoding as i32, self.rate
                )));
            }
        }
        if chunk.data.len() > max_bytes {
            return Err(CallError::BadAudio(format!(
                "chunk {} has {} bytes; at most {max_bytes} are allowed",
                chunk.sequence,
                chunk.data.len()
            )));
        }
        if !chunk.data.len().is_multiple_of(self.sample_bytes()) {
            return Err(CallError::BadAudio(format!(
                "chunk {} has {} bytes, not a whole number of 16-bit samples",
                chunk.sequence,
                chunk.data.len()
            )));
        }
        Ok(())
    }

    /// Decodes caller audio to 16-bit samples (for level checks and WAVs).
    pub fn decode(self, data: &[u8]) -> Vec<i16> {
        match self.encoding {
            Enc::Mulaw => parla_audio::mulaw_decode(data),
            Enc::Alaw => parla_audio::alaw_decode(data),
            _ => parla_audio::pcm16le_from_bytes(data),
        }
    }

    /// Encodes 16-bit samples in this format (sample rate unchanged).
    pub fn encode(self, samples: &[i16]) -> Vec<u8> {
        match self.encoding {
            Enc::Mulaw => parla_audio::mulaw_encode(samples),
            Enc::Alaw => parla_audio::alaw_encode(samples),
            _ => parla_audio::pcm16le_to_bytes(samples),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(encoding: Enc, rate: u32) -> Result<Format, CallError> {
        Format::from_pb(Some(&pb::AudioFormat {
            encoding: encoding as i32,
            sample_rate_hz: rate,
        }))
    }

    #[test]
    fn formats_and_frames() {
        assert_eq!(fmt(Enc::Mulaw, 8000).unwrap().frame_bytes(), 160);
        assert_eq!(fmt(Enc::Pcm16le, 16000).unwrap().frame_bytes(), 640);
        assert!(fmt(Enc::Mulaw, 16000).is_err());
        assert!(fmt(Enc::Unspecified, 8000).is_err());
        assert!(fmt(Enc::Pcm16le, 44100).is_err());
    }

    #[test]
    fn chunk_checks() {
        let f = fmt(Enc::Pcm16le, 16000).unwrap();
        let mut c = pb::AudioChunk {
            data: vec![0; 641],
            ..Default::default()
        };
        assert!(f.check_chunk(&c, 64000).is_err());
        c.data.pop();
        assert!(f.check_chunk(&c, 64000).is_ok());
        c.format = Some(pb::AudioFormat {
            encoding: Enc::Mulaw as i32,
            sample_rate_hz: 8000,
        });
        assert!(f.check_chunk(&c, 64000).is_err());
    }
}
