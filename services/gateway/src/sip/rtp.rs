//! RTP for G.711 calls: packet parsing and building (RFC 3550), a fixed
//! delay jitter buffer that reorders 20 ms frames, and RFC 4733 DTMF
//! events.

use std::collections::BTreeMap;

/// A parsed RTP packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet<'a> {
    /// Payload type.
    pub payload_type: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub sequence: u16,
    /// Timestamp.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
    /// Payload bytes.
    pub payload: &'a [u8],
}

/// Parses an RTP packet; `None` for anything that is not RTP version 2.
pub fn parse(buf: &[u8]) -> Option<Packet<'_>> {
    if buf.len() < 12 || buf[0] >> 6 != 2 {
        return None;
    }
    let csrc = usize::from(buf[0] & 0x0F);
    let mut start = 12 + 4 * csrc;
    if buf[0] & 0x10 != 0 {
        let ext = buf.get(start + 2..start + 4)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    let mut end = buf.len();
    if buf[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*buf.last()?))?;
    }
    let payload = buf.get(start..end)?;
    Some(Packet {
        payload_type: buf[1] & 0x7F,
        marker: buf[1] & 0x80 != 0,
        sequence: u16::from_be_bytes([buf[2], buf[3]]),
        timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        payload,
    })
}

/// Builds an RTP packet.
pub fn build(p: &Packet<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + p.payload.len());
    out.push(0x80);
    out.push(p.payload_type | if p.marker { 0x80 } else { 0 });
    out.extend_from_slice(&p.sequence.to_be_bytes());
    out.extend_from_slice(&p.timestamp.to_be_bytes());
    out.extend_from_slice(&p.ssrc.to_be_bytes());
    out.extend_from_slice(p.payload);
    out
}

/// Reorders incoming frames and releases one per 20 ms tick after a fixed
/// delay; a missing frame is reported as `None` (the caller plays silence).
#[derive(Debug)]
pub struct JitterBuffer {
    delay: usize,
    frames: BTreeMap<u64, Vec<u8>>,
    next: Option<u64>,
    last: Option<u64>,
    started: bool,
}

impl JitterBuffer {
    /// A buffer holding `delay` frames before playing.
    pub fn new(delay: usize) -> Self {
        Self {
            delay: delay.max(1),
            frames: BTreeMap::new(),
            next: None,
            last: None,
            started: false,
        }
    }

    /// Extends a 16-bit sequence number near the last one seen.
    fn extend(&mut self, seq: u16) -> u64 {
        let ext = match self.last {
            None => u64::from(seq) + (1 << 16),
            Some(last) => {
                let delta = i64::from(seq.wrapping_sub(last as u16) as i16);
                (last as i64 + delta).max(0) as u64
            }
        };
        if self.last.is_none_or(|l| ext > l) {
            self.last = Some(ext);
        }
        ext
    }

    /// Adds a frame; late and duplicate frames are dropped.
    pub fn push(&mut self, seq: u16, payload: &[u8]) {
        let ext = self.extend(seq);
        if self.next.is_some_and(|n| ext < n) {
            return;
        }
        if self.frames.len() < 200 {
            self.frames.entry(ext).or_insert_with(|| payload.to_vec());
        }
    }

    /// The frame for this tick: `None` while filling or for a lost frame.
    pub fn pop(&mut self) -> Option<Vec<u8>> {
        if !self.started {
            if self.frames.len() < self.delay {
                return None;
            }
            self.started = true;
            self.next = self.frames.keys().next().copied();
        }
        let next = self.next?;
        self.next = Some(next + 1);
        let frame = self.frames.remove(&next);
        if frame.is_none() && self.frames.is_empty() {
            // Stream paused: refill before playing again.
            self.started = false;
        }
        frame
    }
}

/// RFC 4733 telephone events: yields each digit once.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    last_timestamp: Option<u32>,
}

impl DtmfReceiver {
    /// The digit of a new event, once per event.
    pub fn push(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let event = *payload.first()?;
        if self.last_timestamp == Some(timestamp) {
            return None;
        }
        self.last_timestamp = Some(timestamp);
        match event {
            0..=9 => Some(char::from(b'0' + event)),
            10 => Some('*'),
            11 => Some('#'),
            12..=15 => Some(char::from(b'A' + event - 12)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip() {
        let p = Packet {
            payload_type: 8,
            marker: true,
            sequence: 65535,
            timestamp: 160,
            ssrc: 7,
            payload: &[1, 2, 3],
        };
        let bytes = build(&p);
        assert_eq!(parse(&bytes), Some(p));
        assert_eq!(parse(&[0u8; 5]), None);
    }

    #[test]
    fn jitter_buffer_reorders_and_survives_wrap() {
        let mut jb = JitterBuffer::new(2);
        jb.push(65535, &[1]);
        assert_eq!(jb.pop(), None);
        jb.push(1, &[3]);
        jb.push(0, &[2]);
        assert_eq!(jb.pop(), Some(vec![1]));
        assert_eq!(jb.pop(), Some(vec![2]));
        assert_eq!(jb.pop(), Some(vec![3]));
        jb.push(65535, &[9]); // late
        assert_eq!(jb.pop(), None);
    }

    #[test]
    fn dtmf_once_per_event() {
        let mut d = DtmfReceiver::default();
        assert_eq!(d.push(100, &[4, 0, 0, 160]), Some('4'));
        assert_eq!(d.push(100, &[4, 0x80, 1, 64]), None);
        assert_eq!(d.push(900, &[11, 0, 0, 160]), Some('#'));
    }
}
