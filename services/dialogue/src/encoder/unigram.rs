//! The encoder's tokenizer: SentencePiece unigram segmentation of normalized text, read from the
//! model's `sp.model`. The best segmentation is the one whose pieces' log-probabilities sum
//! highest (Viterbi over characters); a character no piece covers becomes `<unk>`, and a run of
//! them one `<unk>`, as SentencePiece does.
//!
//! It follows sentencepiece's own `unigram_model.cc` rather than the pure-Python port inside the
//! weights' package where the two differ: control symbols (`<s>`, `</s>`) are never matched in
//! text, consecutive unknown characters are merged, and empty text has no pieces. Ordinary text
//! segments identically either way.

use std::path::Path;

use super::normalizer::Normalizer;
use super::spm_model::{PieceKind, SpModel};

/// Score an unknown character costs below the least likely piece (sentencepiece's kUnkPenalty).
const UNK_PENALTY: f32 = 10.0;

/// A SentencePiece unigram tokenizer.
#[derive(Debug, Clone)]
pub(super) struct Tokenizer {
    normalizer: Normalizer,
    trie: PieceTrie,
    scores: Vec<f32>,
    unk_id: u32,
    bos_id: u32,
    eos_id: u32,
    unk_score: f32,
}

impl Tokenizer {
    /// Reads a SentencePiece `.model` file; the error says what is wrong with it.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        Self::from_model(&SpModel::parse(&bytes)?)
    }

    /// Builds the tokenizer of a parsed model.
    pub fn from_model(model: &SpModel) -> Result<Self, String> {
        let find = |kind: PieceKind, text: Option<&str>| {
            model
                .pieces
                .iter()
                .position(|p| p.kind == kind && text.is_none_or(|t| p.text == t))
                .map(|i| i as u32)
        };
        let unk_id = find(PieceKind::Unknown, None).ok_or("no <unk> piece")?;
        let bos_id = find(PieceKind::Control, Some("<s>")).ok_or("no <s> piece")?;
        let eos_id = find(PieceKind::Control, Some("</s>")).ok_or("no </s> piece")?;
        if model.pieces.iter().any(|p| p.kind == PieceKind::Byte) {
            return Err("byte-fallback pieces are not supported".into());
        }
        let min_score = model
            .pieces
            .iter()
            .filter(|p| p.kind == PieceKind::Normal)
            .map(|p| p.score)
            .fold(f32::INFINITY, f32::min);
        if !min_score.is_finite() {
            return Err("no normal pieces".into());
        }
        Ok(Tokenizer {
            normalizer: Normalizer::new(model)?,
            trie: PieceTrie::build(model),
            scores: model.pieces.iter().map(|p| p.score).collect(),
            unk_id,
            bos_id,
            eos_id,
            unk_score: min_score - UNK_PENALTY,
        })
    }

    /// Number of pieces; every id is below it.
    pub fn vocab_size(&self) -> usize {
        self.scores.len()
    }

    /// Appends the ids of `text` to `ids`, between `<s>` and `</s>` as the encoder expects.
    pub fn encode_into(&self, text: &str, ids: &mut Vec<u32>) {
        ids.push(self.bos_id);
        self.segment(&self.normalizer.normalize(text), ids);
        ids.push(self.eos_id);
    }

    /// Viterbi over the characters of normalized text, appending the best pieces to `ids`.
    fn segment(&self, text: &str, ids: &mut Vec<u32>) {
        #[derive(Clone, Copy)]
        struct Best {
            score: f32,
            start: usize,
            id: u32,
        }
        const UNSET: usize = usize::MAX;
        let bytes = text.as_bytes();
        // Indexed by byte position; only character boundaries are ever reached.
        let mut best = vec![
            Best {
                score: 0.0,
                start: UNSET,
                id: 0
            };
            bytes.len() + 1
        ];
        let offer = |best: &mut [Best], end: usize, start: usize, id: u32, score: f32| {
            let slot = &mut best[end];
            // Strictly greater: on a tie the earliest start and the shortest piece stay.
            if slot.start == UNSET || score > slot.score {
                *slot = Best { score, start, id };
            }
        };
        for (start, ch) in text.char_indices() {
            let base = best[start].score;
            let char_end = start + ch.len_utf8();
            let mut single = false;
            let mut node = PieceTrie::ROOT;
            for (end, &byte) in bytes.iter().enumerate().skip(start) {
                let Some(next) = self.trie.child(node, byte) else {
                    break;
                };
                node = next;
                if let Some(id) = self.trie.piece(node) {
                    offer(
                        &mut best,
                        end + 1,
                        start,
                        id,
                        base + self.scores[id as usize],
                    );
                    single |= end + 1 == char_end;
                }
            }
            if !single {
                offer(
                    &mut best,
                    char_end,
                    start,
                    self.unk_id,
                    base + self.unk_score,
                );
            }
        }
        let first = ids.len();
        let mut end = bytes.len();
        while end > 0 {
            let node = best[end];
            // A boundary without a best node cannot happen: every character offers one.
            if node.start == UNSET || node.start >= end {
                break;
            }
            ids.push(node.id);
            end = node.start;
        }
        ids[first..].reverse();
        let unk = self.unk_id;
        let mut kept = first;
        for i in first..ids.len() {
            if !(ids[i] == unk && kept > first && ids[kept - 1] == unk) {
                ids[kept] = ids[i];
                kept += 1;
            }
        }
        ids.truncate(kept);
    }
}

/// The pieces segmentation may use (normal and user-defined ones), as a byte trie with its edges
/// in flat arrays: node `n`'s edges are `labels[first[n]..first[n + 1]]`, sorted.
#[derive(Debug, Clone)]
struct PieceTrie {
    first: Vec<u32>,
    labels: Vec<u8>,
    targets: Vec<u32>,
    /// The piece ending at each node, or `NO_PIECE`.
    pieces: Vec<u32>,
}

impl PieceTrie {
    const ROOT: u32 = 0;
    const NO_PIECE: u32 = u32::MAX;

    fn build(model: &SpModel) -> Self {
        let mut children: Vec<Vec<(u8, u32)>> = vec![Vec::new()];
        let mut pieces = vec![Self::NO_PIECE];
        for (id, piece) in model.pieces.iter().enumerate() {
            if !matches!(piece.kind, PieceKind::Normal | PieceKind::UserDefined) {
                continue;
            }
            let mut node = 0usize;
            for &byte in piece.text.as_bytes() {
                node = match children[node].iter().find(|(b, _)| *b == byte) {
                    Some(&(_, next)) => next as usize,
                    None => {
                        let next = children.len();
                        children[node].push((byte, next as u32));
                        children.push(Vec::new());
                        pieces.push(Self::NO_PIECE);
                        next
                    }
                };
            }
            // The first of duplicate pieces wins, as in sentencepiece's piece map.
            if node != 0 && pieces[node] == Self::NO_PIECE {
                pieces[node] = id as u32;
            }
        }
        let mut trie = PieceTrie {
            first: Vec::with_capacity(children.len() + 1),
            labels: Vec::with_capacity(children.len()),
            targets: Vec::with_capacity(children.len()),
            pieces,
        };
        for mut edges in children {
            edges.sort_unstable();
            trie.first.push(trie.labels.len() as u32);
            for (label, target) in edges {
                trie.labels.push(label);
                trie.targets.push(target);
            }
        }
        trie.first.push(trie.labels.len() as u32);
        trie
    }

    fn child(&self, node: u32, byte: u8) -> Option<u32> {
        let from = self.first[node as usize] as usize;
        let to = self.first[node as usize + 1] as usize;
        let at = self.labels[from..to].binary_search(&byte).ok()?;
        Some(self.targets[from + at])
    }

    fn piece(&self, node: u32) -> Option<u32> {
        Some(self.pieces[node as usize]).filter(|&id| id != Self::NO_PIECE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::spm_model::Piece;

    fn model(pieces: &[(&str, f32, PieceKind)]) -> SpModel {
        SpModel {
            pieces: pieces
                .iter()
                .map(|&(text, score, kind)| Piece {
                    text: text.into(),
                    score,
                    kind,
                })
                .collect(),
            charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        }
    }

    fn toy() -> Tokenizer {
        use PieceKind::*;
        Tokenizer::from_model(&model(&[
            ("<unk>", 0.0, Unknown),
            ("<s>", 0.0, Control),
            ("</s>", 0.0, Control),
            ("▁", -2.0, Normal),
            ("▁a", -1.0, Normal),
            ("b", -3.0, Normal),
            ("▁ab", -3.5, Normal),
            ("a", -2.5, Normal),
            ("<", -4.0, Normal),
        ]))
        .unwrap()
    }

    fn ids(t: &Tokenizer, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        t.encode_into(text, &mut ids);
        ids
    }

    #[test]
    fn the_most_likely_segmentation_wins() {
        let t = toy();
        // ▁ab (-3.5) beats ▁a + b (-4.0).
        assert_eq!(ids(&t, "ab"), [1, 6, 2]);
        // ▁a + ▁ab + a.
        assert_eq!(ids(&t, "a aba"), [1, 4, 6, 7, 2]);
    }

    #[test]
    fn unknown_runs_merge_and_control_symbols_are_not_text() {
        let t = toy();
        assert_eq!(ids(&t, "a xyz"), [1, 4, 3, 0, 2]);
        // `<s>` in text is `<`, then unknown `s>`, never the control piece.
        assert_eq!(ids(&t, "<s>"), [1, 3, 8, 0, 2]);
        assert_eq!(ids(&t, "  "), [1, 2]);
    }
}
