//! Agent audio waiting to be played, clocked by the caller's stream: an
//! agent frame that starts at stream position `p` is sent once the caller's
//! audio has passed `p`, so both directions advance together (as on a
//! phone line) and a barge-in can stop the agent between two frames.
//! It also keeps, per utterance, which sentences have been played, to tell
//! the dialogue how much of a reply the caller heard.

use std::collections::VecDeque;

use super::audio::{Format, FRAME_MS};

/// One 20 ms agent frame ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Encoded audio in the caller's format.
    pub data: Vec<u8>,
    /// Stream position where it plays, in milliseconds.
    pub offset_ms: u64,
    /// Sequence number of the agent audio stream.
    pub sequence: u64,
    /// Utterance it belongs to.
    pub utterance: u64,
    /// True for the utterance's first frame.
    pub first: bool,
}

#[derive(Debug, Default)]
struct Utterance {
    id: u64,
    queued: u64,
    played: u64,
    /// (frames, characters) of each synthesized sentence, in order.
    sentences: Vec<(u64, u32)>,
    done: bool,
}

/// The agent's playout queue.
#[derive(Debug)]
pub struct Playout {
    format: Format,
    pending: Vec<u8>,
    frames: VecDeque<(u64, Vec<u8>)>,
    next_ms: u64,
    sequence: u64,
    utterances: Vec<Utterance>,
}

impl Playout {
    /// An empty queue for agent audio in `format`.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            pending: Vec::new(),
            frames: VecDeque::new(),
            next_ms: 0,
            sequence: 0,
            utterances: Vec::new(),
        }
    }

    fn utterance(&mut self, id: u64) -> &mut Utterance {
        if let Some(i) = self.utterances.iter().position(|u| u.id == id) {
            return &mut self.utterances[i];
        }
        self.utterances.push(Utterance {
            id,
            ..Default::default()
        });
        let last = self.utterances.len() - 1;
        &mut self.utterances[last]
    }

    /// Adds synthesized audio of utterance `id`, cut into 20 ms frames.
    pub fn push(&mut self, id: u64, bytes: &[u8]) {
        let frame = self.format.frame_bytes();
        self.pending.extend_from_slice(bytes);
        let mut added = 0;
        while self.pending.len() >= frame {
            let rest = self.pending.split_off(frame);
            let data = std::mem::replace(&mut self.pending, rest);
            self.frames.push_back((id, data));
            added += 1;
        }
        self.utterance(id).queued += added;
    }

    /// Records that a sentence of `chars` characters and `audio_ms` of
    /// audio was synthesized for utterance `id`.
    pub fn sentence(&mut self, id: u64, chars: u32, audio_ms: u32) {
        let frames = (u64::from(audio_ms) / FRAME_MS).max(1);
        self.utterance(id).sentences.push((frames, chars));
    }

    /// Utterance `id` has no more audio: pads its last frame with silence.
    pub fn finish(&mut self, id: u64) {
        if !self.pending.is_empty() {
            let frame = self.format.frame_bytes();
            let mut data = std::mem::take(&mut self.pending);
            data.resize(frame, self.format.silence_byte());
            self.frames.push_back((id, data));
            self.utterance(id).queued += 1;
        }
        self.utterance(id).done = true;
    }

    /// The next frame whose time has come at caller stream position
    /// `clock_ms`, if any.
    pub fn next_due(&mut self, clock_ms: u64) -> Option<Frame> {
        if self.frames.is_empty() {
            // Idle: the next audio starts where the caller is now.
            self.next_ms = self.next_ms.max(clock_ms);
            return None;
        }
        if self.next_ms >= clock_ms {
            return None;
        }
        let (id, data) = self.frames.pop_front()?;
        let u = self.utterance(id);
        let first = u.played == 0;
        u.played += 1;
        let frame = Frame {
            data,
            offset_ms: self.next_ms,
            sequence: self.sequence,
            utterance: id,
            first,
        };
        self.sequence += 1;
        self.next_ms += FRAME_MS;
        Some(frame)
    }

    /// Frames queued so far for utterance `id`.
    pub fn queued(&self, id: u64) -> u64 {
        self.utterances
            .iter()
            .find(|u| u.id == id)
            .map_or(0, |u| u.queued)
    }

    /// True while agent audio waits to be played.
    pub fn is_playing(&self) -> bool {
        !self.frames.is_empty()
    }

    /// True once utterance `id` is fully synthesized and played.
    pub fn is_done(&self, id: u64) -> bool {
        self.utterances
            .iter()
            .find(|u| u.id == id)
            .is_some_and(|u| u.done && u.played >= u.queued)
    }

    /// Characters of utterance `id` the caller has heard: whole sentences
    /// played, plus the played share of the sentence in progress.
    pub fn heard_chars(&self, id: u64) -> u32 {
        let Some(u) = self.utterances.iter().find(|u| u.id == id) else {
            return 0;
        };
        let mut start = 0u64;
        let mut heard = 0u32;
        for &(frames, chars) in &u.sentences {
            if u.played >= start + frames {
                heard += chars;
            } else {
                let part = u.played.saturating_sub(start);
                heard += (u64::from(chars) * part / frames) as u32;
                break;
            }
            start += frames;
        }
        heard
    }

    /// Drops every queued frame (barge-in, call closing); returns how many.
    pub fn clear(&mut self) -> usize {
        let n = self.frames.len();
        self.frames.clear();
        self.pending.clear();
        for u in &mut self.utterances {
            u.queued = u.played;
            u.done = true;
        }
        n
    }

    /// Drops the frames of utterance `id` not played yet (and the partial
    /// frame being cut); returns how many frames.
    pub fn drop_unplayed(&mut self, id: u64) -> usize {
        let before = self.frames.len();
        self.frames.retain(|(of, _)| *of != id);
        let dropped = before - self.frames.len();
        if dropped > 0 {
            self.pending.clear();
        }
        if let Some(u) = self.utterances.iter_mut().find(|u| u.id == id) {
            u.queued = u.played;
            u.done = true;
        }
        dropped
    }

    /// Forgets utterances that are over (keeps the queue small).
    pub fn forget(&mut self, id: u64) {
        self.utterances.retain(|u| u.id != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parla_proto::v1 as pb;

    fn playout() -> Playout {
        Playout::new(Format {
            encoding: pb::AudioEncoding::Mulaw,
            rate: 8000,
        })
    }

    #[test]
    fn frames_follow_the_caller_clock() {
        let mut p = playout();
        assert!(p.next_due(100).is_none());
        p.push(1, &[1; 400]);
        p.finish(1);
        // 400 bytes = 2.5 frames -> 3 frames, the last padded.
        let f = p.next_due(120).expect("due");
        assert_eq!((f.offset_ms, f.first, f.data.len()), (100, true, 160));
        assert!(p.next_due(120).is_none());
        let f = p.next_due(140).expect("due");
        assert_eq!(f.offset_ms, 120);
        let f = p.next_due(160).expect("due");
        assert_eq!(f.data[100], 0xFF);
        assert!(p.is_done(1));
    }

    #[test]
    fn heard_chars_and_clear() {
        let mut p = playout();
        p.push(7, &vec![1; 160 * 10]);
        p.sentence(7, 20, 100); // 5 frames
        p.sentence(7, 10, 100);
        for t in 1..=7 {
            p.next_due(t * 20);
        }
        // 7 frames played: first sentence (20) + 2/5 of the second (4).
        assert_eq!(p.heard_chars(7), 24);
        assert_eq!(p.clear(), 3);
        assert!(!p.is_playing());
        assert!(p.is_done(7));
    }

    #[test]
    fn an_unheard_utterance_is_dropped_and_the_others_play() {
        let mut p = playout();
        p.push(1, &vec![1; 160 * 2]);
        p.push(2, &vec![2; 160 * 3]);
        assert_eq!(p.drop_unplayed(2), 3);
        assert!(p.is_done(2));
        let played: Vec<u64> = (1..=5)
            .filter_map(|t| p.next_due(t * 20))
            .map(|f| f.utterance)
            .collect();
        assert_eq!(played, [1, 1]);
        assert_eq!(p.drop_unplayed(9), 0);
    }
}
