//! Conversions between `i16` samples, `f32` samples and little-endian bytes.

/// `i16` samples to `f32` in [-1, 1).
pub fn i16_to_f32(samples: &[i16]) -> Vec<f32> {
    samples.iter().map(|&s| f32::from(s) / 32768.0).collect()
}

/// `f32` samples to `i16`, clipping values outside [-1, 1].
pub fn f32_to_i16(samples: &[f32]) -> Vec<i16> {
    samples
        .iter()
        .map(|&s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Samples as 16-bit little-endian PCM bytes.
pub fn pcm16le_to_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// 16-bit little-endian PCM bytes as samples; a trailing odd byte is ignored.
pub fn pcm16le_from_bytes(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}
