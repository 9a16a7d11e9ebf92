//! SentencePiece's text normalizer, as the encoder's model was trained with it (`nmt_nfkc`):
//! NFKC-style rewrites read from the model's precompiled character map (a darts-clone
//! double-array trie of source strings, each pointing at its replacement), then SentencePiece's
//! whitespace rules: leading, trailing and repeated spaces dropped, a space put in front of the
//! text, and every space written as `▁` (U+2581). A port of `Normalizer::Normalize` in
//! sentencepiece's `normalizer.cc`.

use super::spm_model::SpModel;

/// The visible space the pieces are written with.
const SPACE_SYMBOL: &[u8] = "\u{2581}".as_bytes();

/// A normalizer built from a model's normalizer settings.
#[derive(Debug, Clone)]
pub(super) struct Normalizer {
    /// Double-array units of the trie; empty when the model has no character map.
    units: Vec<u32>,
    /// NUL-terminated replacement strings the trie's values point into.
    replacements: Vec<u8>,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
}

impl Normalizer {
    /// Reads the character map of `model`; the error says what is wrong with it.
    pub fn new(model: &SpModel) -> Result<Self, String> {
        let map = &model.charsmap;
        let (units, replacements) = if map.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let size = map
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or("character map shorter than its header")? as usize;
            let trie = map
                .get(4..4 + size)
                .filter(|t| t.len() % 4 == 0 && !t.is_empty())
                .ok_or("character map trie size does not fit the map")?;
            let units = trie
                .chunks_exact(4)
                .map(|u| u32::from_le_bytes([u[0], u[1], u[2], u[3]]))
                .collect();
            (units, map[4 + size..].to_vec())
        };
        Ok(Normalizer {
            units,
            replacements,
            add_dummy_prefix: model.add_dummy_prefix,
            remove_extra_whitespaces: model.remove_extra_whitespaces,
            escape_whitespaces: model.escape_whitespaces,
        })
    }

    /// The normalized text the segmenter works on (empty if `text` is only whitespace).
    pub fn normalize(&self, text: &str) -> String {
        let input = text.as_bytes();
        let strip = self.remove_extra_whitespaces;
        let space: &[u8] = if self.escape_whitespaces {
            SPACE_SYMBOL
        } else {
            b" "
        };
        let mut pos = 0;
        if strip {
            while pos < input.len() {
                let (piece, used) = self.prefix(&input[pos..]);
                if piece != b" " {
                    break;
                }
                pos += used;
            }
        }
        if pos >= input.len() {
            return String::new();
        }
        let mut out = Vec::with_capacity(input.len() * 3 / 2 + space.len());
        if self.add_dummy_prefix {
            out.extend_from_slice(space);
        }
        let mut prev_space = strip;
        while pos < input.len() {
            let (mut piece, used) = self.prefix(&input[pos..]);
            pos += used;
            if strip && prev_space {
                while let [b' ', rest @ ..] = piece {
                    piece = rest;
                }
            }
            if let Some(&last) = piece.last() {
                for &byte in piece {
                    if byte == b' ' {
                        out.extend_from_slice(space);
                    } else {
                        out.push(byte);
                    }
                }
                prev_space = last == b' ';
            }
        }
        if strip {
            while out.ends_with(space) {
                out.truncate(out.len() - space.len());
            }
        }
        // Replacements are UTF-8 in every real model; a damaged map must not panic.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// The longest source string of the map that starts `input`, as (its replacement, bytes
    /// consumed); when none does, the first character unchanged.
    fn prefix<'a>(&'a self, input: &'a [u8]) -> (&'a [u8], usize) {
        let mut best = None;
        if let Some(&root) = self.units.first() {
            let mut node = offset(root);
            for (i, &byte) in input.iter().enumerate() {
                node ^= usize::from(byte);
                let Some(&unit) = self.units.get(node) else {
                    break;
                };
                if unit & 0x8000_00ff != u32::from(byte) {
                    break;
                }
                node ^= offset(unit);
                if unit & 0x100 != 0 {
                    if let Some(&leaf) = self.units.get(node) {
                        best = Some((i + 1, (leaf & 0x7fff_ffff) as usize));
                    }
                }
            }
        }
        if let Some((used, replacement)) = best.and_then(|(used, value)| {
            let rest = self.replacements.get(value..)?;
            let end = rest.iter().position(|&b| b == 0)?;
            Some((used, &rest[..end]))
        }) {
            return (replacement, used);
        }
        let used = utf8_len(input).min(input.len());
        (&input[..used], used)
    }
}

/// A darts-clone unit's offset to its children.
fn offset(unit: u32) -> usize {
    ((unit >> 10) << ((unit & 0x200) >> 6)) as usize
}

/// Length of the UTF-8 character `bytes` starts with (1 for a stray byte).
fn utf8_len(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(b) if b >> 5 == 0b110 => 2,
        Some(b) if b >> 4 == 0b1110 => 3,
        Some(b) if b >> 3 == 0b11110 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> Normalizer {
        Normalizer::new(&SpModel {
            pieces: Vec::new(),
            charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        })
        .unwrap()
    }

    #[test]
    fn spaces_are_trimmed_collapsed_and_made_visible() {
        let n = plain();
        assert_eq!(n.normalize("  where is   my order  "), "▁where▁is▁my▁order");
        assert_eq!(n.normalize("perché"), "▁perché");
        assert_eq!(n.normalize("   "), "");
        assert_eq!(n.normalize(""), "");
    }
}
