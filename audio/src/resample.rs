//! A streaming band-limited resampler: Kaiser-windowed sinc interpolation
//! with a polyphase filter bank for the rational ratio between the two
//! rates (22,050 -> 8,000 Hz is 160/441). The low-pass cutoff sits just
//! below the lower of the two Nyquist frequencies, so downsampling does not
//! alias and upsampling does not image.
//!
//! Feed audio in pieces of any size with [`Resampler::process`], then call
//! [`Resampler::flush`] once at the end; the concatenated output equals a
//! one-shot [`resample`] of the whole input, and its length is
//! `ceil(input_len * to / from)`. Output sample `n` is aligned with input
//! time `n * from / to` (no added delay).

use crate::AudioError;

/// Zero crossings of the sinc on each side of the centre, at the lower rate.
const ZERO_CROSSINGS: f64 = 16.0;
/// Passband edge as a fraction of the lower Nyquist frequency.
const ROLLOFF: f64 = 0.94;
/// Kaiser window shape (about 80 dB stopband attenuation).
const KAISER_BETA: f64 = 8.0;
/// Largest number of filter phases kept in a table.
const MAX_PHASES: u64 = 4096;

/// Converts a mono stream from one sample rate to another.
#[derive(Debug, Clone)]
pub struct Resampler {
    from: u32,
    to: u32,
    /// Upsampling factor L (output steps per `down` input samples).
    up: u64,
    /// Downsampling factor M.
    down: u64,
    /// Taps on each side: the filter covers inputs `base-half+1 ..= base+half`.
    half: i64,
    /// `up` phases of `2*half` taps each.
    bank: Vec<f32>,
    /// Input samples not yet consumed, starting at absolute index `buf_start`.
    buf: Vec<f32>,
    buf_start: i64,
    /// Input samples received so far.
    received: i64,
    /// Index of the next output sample.
    next_out: u64,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Modified Bessel function of the first kind, order 0 (series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    for k in 1..64 {
        term *= q / (k as f64 * k as f64);
        sum += term;
        if term < sum * 1e-12 {
            break;
        }
    }
    sum
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz. Rates must be non-zero and
    /// their ratio, reduced, must have a numerator of at most 4096 (all
    /// common audio rates qualify).
    pub fn new(from: u32, to: u32) -> Result<Self, AudioError> {
        if from == 0 || to == 0 {
            return Err(AudioError::UnsupportedRate {
                from,
                to,
                reason: "rates must be greater than zero",
            });
        }
        let g = gcd(u64::from(from), u64::from(to));
        let up = u64::from(to) / g;
        let down = u64::from(from) / g;
        if up > MAX_PHASES {
            return Err(AudioError::UnsupportedRate {
                from,
                to,
                reason: "the reduced ratio needs more than 4096 filter phases",
            });
        }
        // Cutoff relative to the input rate: 1.0 is the input Nyquist.
        let cutoff = (f64::from(to) / f64::from(from)).min(1.0) * ROLLOFF;
        let half = (ZERO_CROSSINGS / cutoff).ceil() as i64;
        let taps = (2 * half) as usize;
        let mut bank = vec![0f32; up as usize * taps];
        for phase in 0..up as usize {
            let frac = phase as f64 / up as f64;
            let row = &mut bank[phase * taps..(phase + 1) * taps];
            let mut sum = 0.0;
            let mut coefs = vec![0f64; taps];
            for (k, c) in coefs.iter_mut().enumerate() {
                // Input index base + j with j = k - half + 1; distance t.
                let j = k as i64 - half + 1;
                let t = frac - j as f64;
                let x = t * cutoff;
                let sinc = if x.abs() < 1e-12 {
                    1.0
                } else {
                    (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
                };
                let r = t / half as f64;
                let w = if r.abs() >= 1.0 {
                    0.0
                } else {
                    bessel_i0(KAISER_BETA * (1.0 - r * r).sqrt()) / bessel_i0(KAISER_BETA)
                };
                *c = cutoff * sinc * w;
                sum += *c;
            }
            // Unity gain at DC for every phase (no ripple on steady signals).
            for (dst, c) in row.iter_mut().zip(&coefs) {
                *dst = (c / sum) as f32;
            }
        }
        Ok(Self {
            from,
            to,
            up,
            down,
            half,
            bank,
            buf: Vec::new(),
            buf_start: 0,
            received: 0,
            next_out: 0,
        })
    }

    /// Input rate in Hz.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// Output rate in Hz.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Feeds `input` and returns the output that is now complete.
    pub fn process(&mut self, input: &[f32]) -> Vec<f32> {
        self.buf.extend_from_slice(input);
        self.received += input.len() as i64;
        let mut out = Vec::with_capacity(input.len() * self.up as usize / self.down as usize + 1);
        // Output n needs inputs up to base(n) + half.
        self.produce(&mut out, |base, half, received| base + half < received);
        self.trim();
        out
    }

    /// Ends the stream: returns the remaining output, computed as if the
    /// input were followed by silence. The resampler is then reset for a new
    /// stream.
    pub fn flush(&mut self) -> Vec<f32> {
        let total_out = (self.received as u64 * self.up).div_ceil(self.down);
        let pad = self.half as usize + 1;
        self.buf.extend(std::iter::repeat_n(0.0, pad));
        let mut out = Vec::new();
        let next = self.next_out;
        let remaining = total_out.saturating_sub(next);
        let mut produced = 0u64;
        self.produce(&mut out, |_, _, _| {
            produced += 1;
            produced <= remaining
        });
        self.buf.clear();
        self.buf_start = 0;
        self.received = 0;
        self.next_out = 0;
        out
    }

    fn produce(&mut self, out: &mut Vec<f32>, mut ready: impl FnMut(i64, i64, i64) -> bool) {
        let taps = (2 * self.half) as usize;
        loop {
            let pos = self.next_out * self.down;
            let base = (pos / self.up) as i64;
            let phase = (pos % self.up) as usize;
            if !ready(base, self.half, self.received) {
                break;
            }
            let first = base - self.half + 1;
            let coefs = &self.bank[phase * taps..(phase + 1) * taps];
            let mut acc = 0f32;
            for (k, c) in coefs.iter().enumerate() {
                let idx = first + k as i64 - self.buf_start;
                if idx >= 0 {
                    if let Some(x) = self.buf.get(idx as usize) {
                        acc += c * x;
                    }
                }
            }
            out.push(acc);
            self.next_out += 1;
        }
    }

    /// Drops inputs that no future output needs.
    fn trim(&mut self) {
        let pos = self.next_out * self.down;
        let first_needed = (pos / self.up) as i64 - self.half + 1;
        let drop = (first_needed - self.buf_start).clamp(0, self.buf.len() as i64);
        if drop > 0 {
            self.buf.drain(..drop as usize);
            self.buf_start += drop;
        }
    }
}

/// Resamples a whole mono signal at once. Equal rates return a copy.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    if from == to && from != 0 {
        return Ok(samples.to_vec());
    }
    let mut r = Resampler::new(from, to)?;
    let mut out = r.process(samples);
    out.extend(r.flush());
    Ok(out)
}
