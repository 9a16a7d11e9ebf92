//! Whisper's log-mel spectrogram (80 mel bands, 25 ms Hann window, 10 ms
//! hop, Slaney mel scale and normalization), as the Hugging Face Whisper
//! feature extractor computes it. Smart Turn v3.2 was trained on these
//! features of the last 8 s of a turn.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

const N_FFT: usize = 400;
const HOP: usize = 160;
const N_MELS: usize = 80;
const N_BINS: usize = N_FFT / 2 + 1;

/// Computes Whisper log-mel features; reusable across calls.
pub struct LogMel {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    filters: Vec<[f32; N_BINS]>,
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMel {
    /// Plans the FFT and builds the mel filter bank.
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        // Periodic Hann window, as torch.hann_window and HF use.
        let window = (0..N_FFT)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * n as f32 / N_FFT as f32).cos())
            .collect();
        Self {
            fft,
            window,
            filters: mel_filters(),
        }
    }

    /// Features of `audio` (16 kHz), `[80][frames]` flattened row-major,
    /// with `frames = audio.len() / 160` (the last STFT frame is dropped,
    /// as Whisper does).
    pub fn compute(&self, audio: &[f32]) -> Vec<f32> {
        let frames = audio.len() / HOP;
        let pad = N_FFT / 2;
        // Reflect padding of `pad` samples on each side (center = true).
        let padded: Vec<f32> = (0..audio.len() + 2 * pad)
            .map(|i| audio[reflect(i as isize - pad as isize, audio.len())])
            .collect();
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut mel = vec![0f32; N_MELS * frames];
        let mut power = [0f32; N_BINS];
        for frame in 0..frames {
            let start = frame * HOP;
            for (k, slot) in input.iter_mut().enumerate() {
                *slot = padded[start + k] * self.window[k];
            }
            // Lengths are fixed by the plan: this cannot fail.
            if self
                .fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .is_err()
            {
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, filter) in self.filters.iter().enumerate() {
                let energy: f32 = filter.iter().zip(&power).map(|(f, p)| f * p).sum();
                mel[m * frames + frame] = energy.max(1e-10).log10();
            }
        }
        let max = mel.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for v in &mut mel {
            *v = ((*v).max(max - 8.0) + 4.0) / 4.0;
        }
        mel
    }
}

fn reflect(i: isize, len: usize) -> usize {
    if len < 2 {
        return 0;
    }
    let period = 2 * (len as isize - 1);
    let mut j = i.rem_euclid(period);
    if j >= len as isize {
        j = period - j;
    }
    j as usize
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz < 1000.0 {
        3.0 * hz / 200.0
    } else {
        15.0 + (hz / 1000.0).ln() * 27.0 / 6.4f64.ln()
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel < 15.0 {
        200.0 * mel / 3.0
    } else {
        1000.0 * ((mel - 15.0) * 6.4f64.ln() / 27.0).exp()
    }
}

/// Triangular Slaney-normalized filters over 0–8 kHz.
fn mel_filters() -> Vec<[f32; N_BINS]> {
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(8000.0));
    let edges: Vec<f64> = (0..N_MELS + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (N_MELS + 1) as f64))
        .collect();
    (0..N_MELS)
        .map(|m| {
            let (left, center, right) = (edges[m], edges[m + 1], edges[m + 2]);
            let norm = 2.0 / (right - left);
            let mut filter = [0f32; N_BINS];
            for (bin, slot) in filter.iter_mut().enumerate() {
                let f = 8000.0 * bin as f64 / (N_BINS - 1) as f64;
                let down = (f - left) / (center - left);
                let up = (right - f) / (right - center);
                *slot = (down.min(up).max(0.0) * norm) as f32;
            }
            filter
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_range() {
        let audio: Vec<f32> = (0..16_000)
            .map(|i| (i as f32 * 440.0 * 2.0 * std::f32::consts::PI / 16_000.0).sin() * 0.5)
            .collect();
        let mel = LogMel::new().compute(&audio);
        assert_eq!(mel.len(), 80 * 100);
        let max = mel.iter().copied().fold(f32::MIN, f32::max);
        let min = mel.iter().copied().fold(f32::MAX, f32::min);
        assert!(max <= 1.5 && min >= max - 2.0 - 1e-4, "{min} {max}");
        // A 440 Hz tone lights a low band, not the top one.
        let band = |m: usize| mel[m * 100 + 50];
        assert!(band(10) > band(79));
    }

    #[test]
    fn reflect_indices() {
        assert_eq!(reflect(-1, 5), 1);
        assert_eq!(reflect(5, 5), 3);
        assert_eq!(reflect(2, 5), 2);
    }
}
