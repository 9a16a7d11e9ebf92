//! Peak limiter for the agent's voice on the phone line. Synthesized speech
//! arrives already in G.711 with peaks up to full scale; a full-scale G.711
//! peak clips in the caller's recordings and in any gain stage after us, so
//! every frame we send is kept under −1 dBFS. Frames whose peak is already
//! below the threshold go out byte for byte; louder ones are decoded, turned
//! down with a smooth gain and encoded again.

use super::sdp::Codec;

/// Largest magnitude the limiter lets through, before G.711 encoding
/// (−1.16 dBFS). Encoding rounds to the centre of a quantization step, at
/// most half a top-segment step (512) up, so what the caller decodes stays
/// under 0.891 of full scale (−1 dBFS).
pub const THRESHOLD: i32 = 28_600;

/// How much the gain may fall per sample towards a coming peak: from 1 to
/// 0.5 in 4 ms, fast enough for speech, slow enough not to click.
const ATTACK_STEP: f32 = 1.0 / 32.0;

/// How much the gain may rise per sample after a peak: from 0.5 back to 1
/// in half a second, so the level does not pump between syllables.
const RELEASE_STEP: f32 = 1.0 / 8000.0;

/// Limits the peaks of one call's outgoing G.711 audio.
#[derive(Debug)]
pub struct PeakLimiter {
    codec: Codec,
    /// Gain applied to the last sample sent.
    gain: f32,
}

impl PeakLimiter {
    /// A limiter for audio in `codec`, at unity gain.
    pub fn new(codec: Codec) -> Self {
        Self { codec, gain: 1.0 }
    }

    /// Limits one frame in place. The frame itself is the look-ahead: the
    /// gain starts falling before a loud sample of the frame so that each
    /// sample stays under [`THRESHOLD`].
    pub fn apply(&mut self, frame: &mut [u8]) {
        let samples: Vec<i32> = frame.iter().map(|&b| self.decode(b)).collect();
        if self.gain >= 1.0 && samples.iter().all(|s| s.abs() <= THRESHOLD) {
            return;
        }
        // Per sample, the gain that keeps it (and the ramp down to it) in.
        let mut gains: Vec<f32> = samples.iter().map(|&s| needed_gain(s)).collect();
        let mut ahead = 1.0f32;
        for g in gains.iter_mut().rev() {
            ahead = (ahead + ATTACK_STEP).min(*g);
            *g = ahead;
        }
        for ((byte, &sample), &limit) in frame.iter_mut().zip(&samples).zip(&gains) {
            self.gain = (self.gain + RELEASE_STEP).min(limit);
            if self.gain < 1.0 {
                let scaled = (sample as f32 * self.gain).round() as i32;
                *byte = self.encode(scaled.clamp(-THRESHOLD, THRESHOLD) as i16);
            }
        }
    }

    fn decode(&self, byte: u8) -> i32 {
        i32::from(match self.codec {
            Codec::Pcmu => parla_audio::mulaw_decode_sample(byte),
            Codec::Pcma => parla_audio::alaw_decode_sample(byte),
        })
    }

    fn encode(&self, sample: i16) -> u8 {
        match self.codec {
            Codec::Pcmu => parla_audio::mulaw_encode_sample(sample),
            Codec::Pcma => parla_audio::alaw_encode_sample(sample),
        }
    }
}

/// The gain that brings `sample` down to the threshold (1 when it is under).
fn needed_gain(sample: i32) -> f32 {
    let magnitude = sample.abs();
    if magnitude <= THRESHOLD {
        1.0
    } else {
        THRESHOLD as f32 / magnitude as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// −1 dBFS as a sample magnitude.
    const MINUS_1_DBFS: f64 = 0.891 * 32768.0;

    fn decode(codec: Codec, bytes: &[u8]) -> Vec<i16> {
        match codec {
            Codec::Pcmu => parla_audio::mulaw_decode(bytes),
            Codec::Pcma => parla_audio::alaw_decode(bytes),
        }
    }

    fn encode(codec: Codec, samples: &[i16]) -> Vec<u8> {
        match codec {
            Codec::Pcmu => parla_audio::mulaw_encode(samples),
            Codec::Pcma => parla_audio::alaw_encode(samples),
        }
    }

    fn peak(samples: &[i16]) -> f64 {
        samples
            .iter()
            .map(|&s| f64::from(s).abs())
            .fold(0.0, f64::max)
    }

    /// A 440 Hz tone at `level` of full scale, in 20 ms frames of `codec`.
    fn tone(codec: Codec, level: f64, frames: usize) -> Vec<Vec<u8>> {
        let samples: Vec<i16> = (0..frames * 160)
            .map(|n| {
                let x = (2.0 * std::f64::consts::PI * 440.0 * n as f64 / 8000.0).sin();
                (x * level * 32767.0).round() as i16
            })
            .collect();
        samples.chunks(160).map(|c| encode(codec, c)).collect()
    }

    #[test]
    fn loud_speech_stays_under_minus_1_dbfs() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut limiter = PeakLimiter::new(codec);
            let mut frames = tone(codec, 1.0, 50);
            // Peaks at the very start of a frame too: the largest codes.
            frames.push(encode(codec, &[i16::MAX, i16::MIN, i16::MAX, 0].repeat(40)));
            let before = peak(&decode(codec, &frames.concat()));
            assert!(before > 32000.0, "{codec:?}: input peak {before}");
            for frame in &mut frames {
                limiter.apply(frame);
            }
            let after = peak(&decode(codec, &frames.concat()));
            assert!(
                after < MINUS_1_DBFS,
                "{codec:?}: peak {after} is not under -1 dBFS ({MINUS_1_DBFS})"
            );
            // Turned down, not silenced.
            assert!(after > 0.8 * 32768.0, "{codec:?}: peak {after}");
        }
    }

    #[test]
    fn quiet_speech_goes_out_unchanged() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut limiter = PeakLimiter::new(codec);
            for frame in tone(codec, 0.5, 10) {
                let mut sent = frame.clone();
                limiter.apply(&mut sent);
                assert_eq!(sent, frame, "{codec:?}");
            }
        }
    }

    #[test]
    fn the_threshold_leaves_room_for_g711_rounding() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let all: Vec<i16> = (-THRESHOLD..=THRESHOLD).map(|s| s as i16).collect();
            let decoded = decode(codec, &encode(codec, &all));
            assert!(peak(&decoded) < MINUS_1_DBFS, "{codec:?}");
        }
    }
}
