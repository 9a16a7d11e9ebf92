//! G.711 companding (ITU-T G.711): mu-law (PCMU, North America and Japan)
//! and A-law (PCMA, Europe), one byte per 8 kHz sample on a phone line.
//! Both codecs follow the reference segment tables; decoding returns the
//! centre of each quantization interval.

const MULAW_BIAS: i32 = 0x84;
const MULAW_CLIP: i32 = 32635;

/// Encodes one sample as mu-law.
pub fn mulaw_encode_sample(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 { 0x80 } else { 0 };
    if s < 0 {
        s = -s;
    }
    s = s.min(MULAW_CLIP) + MULAW_BIAS;
    // Segment = position of the highest set bit above bit 7.
    let exponent = (31 - (s as u32).leading_zeros()).saturating_sub(7).min(7) as i32;
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// Decodes one mu-law byte.
pub fn mulaw_decode_sample(byte: u8) -> i16 {
    let b = !byte;
    let sign = b & 0x80;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0F);
    let magnitude = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Encodes one sample as A-law.
pub fn alaw_encode_sample(sample: i16) -> u8 {
    // A-law works on 13-bit magnitudes.
    let s = i32::from(sample) >> 3;
    let (sign, magnitude) = if s >= 0 { (0x80, s) } else { (0x00, -s - 1) };
    let magnitude = magnitude.min(0x0FFF);
    let code = if magnitude < 32 {
        magnitude >> 1
    } else {
        let exponent = 31 - (magnitude as u32).leading_zeros() as i32 - 4; // 1..=7
        (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    };
    ((sign | code) as u8) ^ 0x55
}

/// Decodes one A-law byte.
pub fn alaw_decode_sample(byte: u8) -> i16 {
    let b = byte ^ 0x55;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0F);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if b & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// Encodes samples as mu-law bytes.
pub fn mulaw_encode(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| mulaw_encode_sample(s)).collect()
}

/// Decodes mu-law bytes to samples.
pub fn mulaw_decode(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| mulaw_decode_sample(b)).collect()
}

/// Encodes samples as A-law bytes.
pub fn alaw_encode(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| alaw_encode_sample(s)).collect()
}

/// Decodes A-law bytes to samples.
pub fn alaw_decode(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| alaw_decode_sample(b)).collect()
}
