//! Audio out: resampling to the requested rate, G.711 encoding, and cutting
//! the stream into chunks of a fixed duration with sequence numbers.

use parla_audio::Resampler;

use crate::TtsError;

/// Sample encoding of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// 16-bit little-endian PCM.
    Pcm16,
    /// G.711 mu-law.
    Mulaw,
    /// G.711 A-law.
    Alaw,
}

/// Encoding and rate of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputFormat {
    /// Encoding.
    pub encoding: Encoding,
    /// Samples per second.
    pub sample_rate: u32,
}

impl OutputFormat {
    /// Checks a requested format against what this service produces; an
    /// unset encoding means PCM16 at the voice's native rate, an unset rate
    /// means native (PCM) or 8 kHz (G.711).
    pub fn resolve(
        encoding: Option<Encoding>,
        sample_rate: u32,
        native: u32,
    ) -> Result<Self, TtsError> {
        let encoding = encoding.unwrap_or(Encoding::Pcm16);
        let sample_rate = match (encoding, sample_rate) {
            (Encoding::Pcm16, 0) => native,
            (Encoding::Pcm16, r) if r == native || matches!(r, 8000 | 16000 | 24000) => r,
            (Encoding::Pcm16, r) => {
                return Err(TtsError::Format(format!(
                    "PCM16LE at {r} Hz; allowed rates: 8000, 16000, 24000 or the voice's {native}"
                )))
            }
            (_, 0 | 8000) => 8000,
            (e, r) => {
                return Err(TtsError::Format(format!(
                    "{e:?} at {r} Hz; G.711 is 8000 Hz only"
                )))
            }
        };
        Ok(Self {
            encoding,
            sample_rate,
        })
    }
}

/// One encoded chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedChunk {
    /// Position in the stream, from 0.
    pub sequence: u64,
    /// Encoded bytes.
    pub data: Vec<u8>,
    /// Offset of its first sample, in ms.
    pub offset_ms: u64,
}

/// Turns native PCM into chunks of the output format.
pub struct Encoder {
    format: OutputFormat,
    resampler: Option<Resampler>,
    chunk: Option<usize>,
    pending: Vec<i16>,
    sequence: u64,
    samples_out: u64,
}

impl Encoder {
    /// An encoder from `native` Hz to `format`, cutting chunks of
    /// `chunk_ms` (`None`: one chunk at the end).
    pub fn new(format: OutputFormat, native: u32, chunk_ms: Option<u32>) -> Result<Self, TtsError> {
        let resampler = if format.sample_rate == native {
            None
        } else {
            Some(
                Resampler::new(native, format.sample_rate)
                    .map_err(|e| TtsError::Format(e.to_string()))?,
            )
        };
        Ok(Self {
            format,
            resampler,
            chunk: chunk_ms.map(|ms| (format.sample_rate as usize * ms as usize / 1000).max(1)),
            pending: Vec::new(),
            sequence: 0,
            samples_out: 0,
        })
    }

    /// The output format.
    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// Output samples produced so far (including those still pending).
    pub fn samples(&self) -> u64 {
        self.samples_out + self.pending.len() as u64
    }

    /// Adds native PCM; returns the chunks now full.
    pub fn push(&mut self, pcm: &[i16]) -> Vec<EncodedChunk> {
        match &mut self.resampler {
            Some(r) => {
                let out = r.process(&parla_audio::i16_to_f32(pcm));
                self.pending.extend(parla_audio::f32_to_i16(&out));
            }
            None => self.pending.extend_from_slice(pcm),
        }
        let mut chunks = Vec::new();
        if let Some(n) = self.chunk {
            while self.pending.len() >= n {
                let rest = self.pending.split_off(n);
                let full = std::mem::replace(&mut self.pending, rest);
                chunks.push(self.emit(&full));
            }
        }
        chunks
    }

    /// Ends the stream: the rest of the audio, the last chunk padded with
    /// silence to the full chunk length (telephony expects whole frames).
    pub fn finish(&mut self) -> Vec<EncodedChunk> {
        if let Some(r) = &mut self.resampler {
            let tail = r.flush();
            self.pending.extend(parla_audio::f32_to_i16(&tail));
        }
        let mut chunks = self.push(&[]);
        if !self.pending.is_empty() {
            let mut last = std::mem::take(&mut self.pending);
            if let Some(n) = self.chunk {
                last.resize(n, 0);
            }
            chunks.push(self.emit(&last));
        }
        chunks
    }

    fn emit(&mut self, pcm: &[i16]) -> EncodedChunk {
        let data = match self.format.encoding {
            Encoding::Pcm16 => parla_audio::pcm16le_to_bytes(pcm),
            Encoding::Mulaw => parla_audio::mulaw_encode(pcm),
            Encoding::Alaw => parla_audio::alaw_encode(pcm),
        };
        let chunk = EncodedChunk {
            sequence: self.sequence,
            data,
            offset_ms: self.samples_out * 1000 / u64::from(self.format.sample_rate),
        };
        self.sequence += 1;
        self.samples_out += pcm.len() as u64;
        chunk
    }
}
