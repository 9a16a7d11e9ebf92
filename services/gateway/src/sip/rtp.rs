//! RTP for G.711 calls: packet parsing and building (RFC 3550), the
//! numbering of the packets we send (sequence, media-clock timestamps,
//! talk-spurt markers), a fixed delay jitter buffer that reorders 20 ms
//! frames, and RFC 4733 DTMF events.

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

/// Numbers the packets of one outgoing stream. The sequence number goes up
/// by one per packet (RFC 3550 §5.1: the receiver counts losses with it);
/// the timestamp is the stream position of the payload's first sample, so
/// it keeps running with the sampling clock while nothing is sent (RFC 3551
/// §4.1), and the marker bit flags the first packet of each talk spurt.
#[derive(Debug)]
pub struct OutboundStream {
    payload_type: u8,
    ssrc: u32,
    sequence: u16,
    timestamp_base: u32,
    /// Stream position, in samples, right after the last packet sent.
    next: Option<u64>,
}

impl OutboundStream {
    /// A stream whose first packet has sequence number `first_sequence` and
    /// whose stream position 0 has timestamp `timestamp_base` (both random
    /// per RFC 3550).
    pub fn new(payload_type: u8, ssrc: u32, first_sequence: u16, timestamp_base: u32) -> Self {
        Self {
            payload_type,
            ssrc,
            sequence: first_sequence,
            timestamp_base,
            next: None,
        }
    }

    /// The packet of `payload` (`samples` samples) whose first sample plays
    /// at stream position `position`, in samples. A packet that starts
    /// after the end of the previous one opens a talk spurt (marker set);
    /// one that would overlap the previous one is moved right after it, so
    /// timestamps never go back.
    pub fn packet(&mut self, position: u64, samples: u64, payload: &[u8]) -> Vec<u8> {
        let (position, marker) = match self.next {
            None => (position, true),
            Some(next) => (position.max(next), position > next),
        };
        let bytes = build(&Packet {
            payload_type: self.payload_type,
            marker,
            sequence: self.sequence,
            // RTP timestamps are modulo 2^32.
            timestamp: self.timestamp_base.wrapping_add(position as u32),
            ssrc: self.ssrc,
            payload,
        });
        self.sequence = self.sequence.wrapping_add(1);
        self.next = Some(position + samples);
        bytes
    }
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

    #[test]
    fn outbound_timestamps_follow_the_media_clock_across_a_silence() {
        let mut out = OutboundStream::new(0, 42, 65534, u32::MAX - 100);
        let mut sent = Vec::new();
        // A spurt of 3 frames, 1 s of silence, then 2 more frames.
        for position in [0u64, 160, 320, 320 + 160 + 8000, 320 + 160 + 8000 + 160] {
            let bytes = out.packet(position, 160, &[0xFF; 160]);
            let p = parse(&bytes).expect("rtp");
            sent.push((p.sequence, p.timestamp, p.marker, p.ssrc, p.payload_type));
        }
        let base = u32::MAX - 100;
        assert_eq!(
            sent,
            vec![
                (65534, base, true, 42, 0),
                (65535, base.wrapping_add(160), false, 42, 0),
                (0, base.wrapping_add(320), false, 42, 0),
                // The timestamp jumps by the 8,000 samples of silence; the
                // sequence number does not.
                (1, base.wrapping_add(8480), true, 42, 0),
                (2, base.wrapping_add(8640), false, 42, 0),
            ]
        );
    }

    #[test]
    fn outbound_overlap_never_moves_timestamps_back() {
        let mut out = OutboundStream::new(8, 1, 10, 1000);
        let first = out.packet(0, 160, &[0xD5; 160]);
        let overlapping = out.packet(100, 160, &[0xD5; 160]);
        let first = parse(&first).expect("rtp");
        let overlapping = parse(&overlapping).expect("rtp");
        assert_eq!((first.timestamp, first.marker), (1000, true));
        assert_eq!(
            (
                overlapping.sequence,
                overlapping.timestamp,
                overlapping.marker
            ),
            (11, 1160, false)
        );
    }
}
