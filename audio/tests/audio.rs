//! Checks of the codecs, the resampler and WAV files against signal
//! properties: known G.711 code points, quantization error bounds, tone
//! frequency and amplitude after resampling, aliasing rejection.

use parla_audio::*;

fn tone(freq: f64, rate: u32, secs: f64, amp: f64) -> Vec<f32> {
    let n = (f64::from(rate) * secs) as usize;
    (0..n)
        .map(|i| {
            (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin()) as f32
        })
        .collect()
}

/// Amplitude of `freq` in `x` (Goertzel), on the middle of the signal.
fn amplitude(x: &[f32], freq: f64, rate: u32) -> f64 {
    let x = &x[x.len() / 4..x.len() * 3 / 4];
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let (mut re, mut im) = (0.0, 0.0);
    for (i, &s) in x.iter().enumerate() {
        re += f64::from(s) * (w * i as f64).cos();
        im += f64::from(s) * (w * i as f64).sin();
    }
    2.0 * (re * re + im * im).sqrt() / x.len() as f64
}

#[test]
fn g711_known_code_points() {
    assert_eq!(mulaw_encode_sample(0), 0xFF);
    assert_eq!(mulaw_encode_sample(-1), 0x7F);
    assert_eq!(mulaw_encode_sample(i16::MAX), 0x80);
    assert_eq!(mulaw_encode_sample(i16::MIN), 0x00);
    assert_eq!(mulaw_decode_sample(0xFF), 0);
    assert_eq!(mulaw_decode_sample(0x80), 32124);
    assert_eq!(alaw_encode_sample(0), 0xD5);
    assert_eq!(alaw_encode_sample(-1), 0x55);
    assert_eq!(alaw_encode_sample(i16::MAX), 0xAA);
    assert_eq!(alaw_decode_sample(0xD5), 8);
    assert_eq!(alaw_decode_sample(0xAA), 32256);
}

#[test]
fn g711_round_trip_error_is_within_a_segment_step() {
    for s in (i16::MIN..=i16::MAX).step_by(7) {
        for (name, back) in [
            ("mulaw", mulaw_decode_sample(mulaw_encode_sample(s))),
            ("alaw", alaw_decode_sample(alaw_encode_sample(s))),
        ] {
            let err = (i32::from(back) - i32::from(s)).abs();
            // Step size grows with magnitude: at most 1/16 of it plus the base step.
            let bound = (i32::from(s).abs() / 16).max(16) + 16;
            assert!(
                err <= bound,
                "{name}: {s} -> {back} (error {err} > {bound})"
            );
        }
    }
    // Every code decodes and re-encodes to itself (except mu-law's negative zero).
    for b in 0..=255u8 {
        assert_eq!(alaw_encode_sample(alaw_decode_sample(b)), b, "alaw {b:#x}");
        if b != 0x7F {
            assert_eq!(
                mulaw_encode_sample(mulaw_decode_sample(b)),
                b,
                "mulaw {b:#x}"
            );
        }
    }
}

#[test]
fn resampling_keeps_a_tone_and_its_length() {
    for (from, to) in [
        (22050, 8000),
        (22050, 16000),
        (22050, 24000),
        (8000, 16000),
        (16000, 8000),
        (48000, 16000),
    ] {
        let x = tone(440.0, from, 1.0, 0.5);
        let y = resample(&x, from, to).unwrap();
        assert_eq!(
            y.len(),
            (x.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize
        );
        let a = amplitude(&y, 440.0, to);
        assert!((a - 0.5).abs() < 0.01, "{from}->{to}: amplitude {a}");
        // Nothing else: the residual after removing the tone is small.
        let off = amplitude(&y, 1000.0, to);
        assert!(off < 0.005, "{from}->{to}: leakage {off}");
    }
}

#[test]
fn downsampling_rejects_what_cannot_be_represented() {
    // 6 kHz is above the 4 kHz Nyquist of 8 kHz audio: it must not fold to 2 kHz.
    let x = tone(6000.0, 22050, 1.0, 0.5);
    let y = resample(&x, 22050, 8000).unwrap();
    let alias = amplitude(&y, 2000.0, 8000);
    assert!(alias < 0.5 * 1e-3, "alias amplitude {alias}");
}

#[test]
fn streaming_equals_one_shot() {
    let x = tone(300.0, 22050, 0.7, 0.3);
    let whole = resample(&x, 22050, 8000).unwrap();
    let mut r = Resampler::new(22050, 8000).unwrap();
    let mut pieces = Vec::new();
    for chunk in x.chunks(441 / 2 + 13) {
        pieces.extend(r.process(chunk));
    }
    pieces.extend(r.flush());
    assert_eq!(pieces.len(), whole.len());
    for (a, b) in pieces.iter().zip(&whole) {
        assert!((a - b).abs() < 1e-6);
    }
}

#[test]
fn bad_rates_are_errors() {
    assert!(Resampler::new(0, 8000).is_err());
    assert!(Resampler::new(8000, 0).is_err());
}

#[test]
fn wav_round_trip_and_header_checks() {
    let x = f32_to_i16(&tone(440.0, 16000, 0.1, 0.5));
    let bytes = wav_bytes(16000, &x);
    let w = read_wav_bytes(&bytes).unwrap();
    assert_eq!(w.sample_rate, 16000);
    assert_eq!(w.samples, x);
    let dir = std::env::temp_dir().join(format!("parla-audio-{}.wav", std::process::id()));
    write_wav(&dir, 8000, &x).unwrap();
    assert_eq!(read_wav(&dir).unwrap().samples, x);
    let _ = std::fs::remove_file(&dir);
    assert!(read_wav_bytes(b"RIFF0000WAVX").is_err());
    assert!(read_wav_bytes(&bytes[..30]).is_err());
    assert_eq!(pcm16le_from_bytes(&pcm16le_to_bytes(&x)), x);
}
