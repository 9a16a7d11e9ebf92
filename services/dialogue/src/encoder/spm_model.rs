//! Reading a SentencePiece `.model` file: a protobuf `ModelProto` holding the pieces (text, score,
//! type), the trainer settings and the normalizer (its precompiled character map and whitespace
//! rules). Only the fields the encoder uses are read; the wire format is decoded by hand, so no
//! protobuf code generation is needed for one file.

/// What a piece is, as SentencePiece's `ModelProto.SentencePiece.Type` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PieceKind {
    /// An ordinary piece, found in text by the segmenter.
    Normal,
    /// The unknown piece (`<unk>`), used for characters no piece covers.
    Unknown,
    /// A control symbol (`<s>`, `</s>`): never found in text.
    Control,
    /// A symbol the model's author declared; found in text like a normal piece.
    UserDefined,
    /// A piece kept in the vocabulary but never used in segmentation.
    Unused,
    /// A byte-fallback piece (`<0x41>`); the encoder's model has none.
    Byte,
}

/// One vocabulary entry; its id is its position in [`SpModel::pieces`].
#[derive(Debug, Clone)]
pub(super) struct Piece {
    pub text: String,
    pub score: f32,
    pub kind: PieceKind,
}

/// The parts of a `ModelProto` the tokenizer needs.
#[derive(Debug, Clone)]
pub(super) struct SpModel {
    pub pieces: Vec<Piece>,
    /// The normalizer's precompiled character map (darts-clone trie + replacement strings).
    pub charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
}

// Field numbers of sentencepiece_model.proto.
const MODEL_PIECES: u64 = 1;
const MODEL_TRAINER: u64 = 2;
const MODEL_NORMALIZER: u64 = 3;
const PIECE_TEXT: u64 = 1;
const PIECE_SCORE: u64 = 2;
const PIECE_TYPE: u64 = 3;
const TRAINER_MODEL_TYPE: u64 = 3;
const TRAINER_WHITESPACE_AS_SUFFIX: u64 = 24;
const TRAINER_BYTE_FALLBACK: u64 = 35;
const NORMALIZER_CHARSMAP: u64 = 2;
const NORMALIZER_DUMMY_PREFIX: u64 = 3;
const NORMALIZER_EXTRA_WHITESPACES: u64 = 4;
const NORMALIZER_ESCAPE_WHITESPACES: u64 = 5;
/// `TrainerSpec.ModelType.UNIGRAM`, the proto's default.
const UNIGRAM: u64 = 1;

impl SpModel {
    /// Parses a serialized `ModelProto`; the error says what is wrong with it.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut model = SpModel {
            pieces: Vec::new(),
            charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        };
        for field in Fields::new(bytes) {
            let (number, value) = field?;
            match (number, value) {
                (MODEL_PIECES, Value::Bytes(piece)) => model.pieces.push(parse_piece(piece)?),
                (MODEL_TRAINER, Value::Bytes(trainer)) => check_trainer(trainer)?,
                (MODEL_NORMALIZER, Value::Bytes(normalizer)) => {
                    for field in Fields::new(normalizer) {
                        match field? {
                            (NORMALIZER_CHARSMAP, Value::Bytes(map)) => {
                                model.charsmap = map.to_vec()
                            }
                            (NORMALIZER_DUMMY_PREFIX, Value::Varint(v)) => {
                                model.add_dummy_prefix = v != 0
                            }
                            (NORMALIZER_EXTRA_WHITESPACES, Value::Varint(v)) => {
                                model.remove_extra_whitespaces = v != 0
                            }
                            (NORMALIZER_ESCAPE_WHITESPACES, Value::Varint(v)) => {
                                model.escape_whitespaces = v != 0
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if model.pieces.is_empty() {
            return Err("no pieces: not a SentencePiece model".into());
        }
        Ok(model)
    }
}

fn parse_piece(bytes: &[u8]) -> Result<Piece, String> {
    let mut piece = Piece {
        text: String::new(),
        score: 0.0,
        kind: PieceKind::Normal,
    };
    for field in Fields::new(bytes) {
        match field? {
            (PIECE_TEXT, Value::Bytes(text)) => {
                piece.text = String::from_utf8(text.to_vec())
                    .map_err(|_| "a piece is not valid UTF-8".to_string())?
            }
            (PIECE_SCORE, Value::Fixed32(bits)) => piece.score = f32::from_bits(bits),
            (PIECE_TYPE, Value::Varint(kind)) => {
                piece.kind = match kind {
                    1 => PieceKind::Normal,
                    2 => PieceKind::Unknown,
                    3 => PieceKind::Control,
                    4 => PieceKind::UserDefined,
                    5 => PieceKind::Unused,
                    6 => PieceKind::Byte,
                    other => return Err(format!("unknown piece type {other}")),
                }
            }
            _ => {}
        }
    }
    Ok(piece)
}

/// Refuses models this tokenizer would segment differently from SentencePiece.
fn check_trainer(bytes: &[u8]) -> Result<(), String> {
    for field in Fields::new(bytes) {
        match field? {
            (TRAINER_MODEL_TYPE, Value::Varint(kind)) if kind != UNIGRAM => {
                return Err(format!("model type {kind} is not unigram"))
            }
            (TRAINER_WHITESPACE_AS_SUFFIX, Value::Varint(1)) => {
                return Err("whitespace as suffix is not supported".into())
            }
            (TRAINER_BYTE_FALLBACK, Value::Varint(1)) => {
                return Err("byte fallback is not supported".into())
            }
            _ => {}
        }
    }
    Ok(())
}

/// A field's value in the protobuf wire format.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The fields of one serialized message, in order: `(field number, value)`.
struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.buf.len())
            .ok_or("truncated field")?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn field(&mut self) -> Result<(u64, Value<'a>), String> {
        let tag = self.varint()?;
        let value = match tag & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "field too long")?;
                Value::Bytes(self.take(len)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().map_err(|_| "fixed32")?,
            )),
            wire => return Err(format!("unsupported wire type {wire}")),
        };
        Ok((tag >> 3, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            // Stop after the first error: the rest of the buffer cannot be framed.
            self.pos = self.buf.len();
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_and_normalizer_flags_are_read() {
        // ModelProto { pieces: [{piece: "▁a", score: -1.5}, {piece: "<unk>", type: UNKNOWN}],
        //              normalizer_spec: {precompiled_charsmap: "", add_dummy_prefix: false} }
        let mut piece_a = vec![0x0a, 4];
        piece_a.extend_from_slice("▁a".as_bytes());
        piece_a.push(0x15);
        piece_a.extend_from_slice(&(-1.5f32).to_le_bytes());
        let mut unk = vec![0x0a, 5];
        unk.extend_from_slice(b"<unk>");
        unk.extend_from_slice(&[0x18, 2]);
        let mut bytes = vec![0x0a, piece_a.len() as u8];
        bytes.extend_from_slice(&piece_a);
        bytes.extend_from_slice(&[0x0a, unk.len() as u8]);
        bytes.extend_from_slice(&unk);
        bytes.extend_from_slice(&[0x1a, 2, 0x18, 0]);
        let model = SpModel::parse(&bytes).unwrap();
        assert_eq!(model.pieces.len(), 2);
        assert_eq!(model.pieces[0].text, "▁a");
        assert_eq!(model.pieces[0].score, -1.5);
        assert_eq!(model.pieces[1].kind, PieceKind::Unknown);
        assert!(!model.add_dummy_prefix && model.remove_extra_whitespaces);
    }

    #[test]
    fn truncated_or_foreign_bytes_are_refused() {
        assert!(SpModel::parse(&[0x0a, 9, 1]).is_err());
        assert!(SpModel::parse(b"not a model at all").is_err());
        assert!(SpModel::parse(&[]).is_err());
    }
}
