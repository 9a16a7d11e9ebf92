//! Whisper's vocabulary as whisper.cpp wants it: raw token bytes.
//!
//! CTranslate2's `vocabulary.txt` holds one token per line in GPT-2's byte-level spelling, where
//! every byte is shown as a printable character (`Ġ` for a space, `Ċ` for a newline). This module
//! inverts that mapping. Only the ordinary tokens are kept: whisper.cpp derives the special tokens
//! (`<|endoftext|>` onwards) from the vocabulary size itself, as OpenAI's converter expects.

use super::ConvertError;

/// The first special token; everything from it onwards is left to whisper.cpp.
const END_OF_TEXT: &str = "<|endoftext|>";

/// GPT-2's byte-to-character table, inverted: index = char code (< 324), value = byte.
fn unicode_to_byte() -> Vec<Option<u8>> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut table = vec![None; 256 + 68];
    let mut shifted = 0usize;
    for b in 0..=255u8 {
        let ch = if printable(b) {
            usize::from(b)
        } else {
            shifted += 1;
            255 + shifted
        };
        table[ch] = Some(b);
    }
    table
}

/// Decodes one byte-level token into raw bytes.
pub fn decode_token(token: &str, table: &[Option<u8>]) -> Result<Vec<u8>, ConvertError> {
    token
        .chars()
        .map(|c| {
            table.get(c as usize).copied().flatten().ok_or_else(|| {
                ConvertError::Vocabulary(format!(
                    "token `{token}` has a character outside the byte map: {c:?}"
                ))
            })
        })
        .collect()
}

/// Parses `vocabulary.txt`: returns the ordinary tokens as bytes and the total token count.
pub fn ordinary_tokens(text: &str) -> Result<(Vec<Vec<u8>>, usize), ConvertError> {
    let tokens: Vec<&str> = text
        .strip_suffix('\n')
        .unwrap_or(text)
        .split('\n')
        .collect();
    let eot = tokens
        .iter()
        .position(|t| *t == END_OF_TEXT)
        .ok_or_else(|| ConvertError::Vocabulary(format!("no `{END_OF_TEXT}` token")))?;
    let table = unicode_to_byte();
    let ordinary = tokens[..eot]
        .iter()
        .map(|t| decode_token(t, &table))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((ordinary, tokens.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_gpt2_byte_level_tokens() {
        let table = unicode_to_byte();
        assert_eq!(decode_token("Ġhello", &table).unwrap(), b" hello");
        assert_eq!(decode_token("Ċ", &table).unwrap(), b"\n");
        assert_eq!(decode_token("!", &table).unwrap(), b"!");
        // "é" in UTF-8 is C3 A9, spelled "Ã©" at byte level.
        assert_eq!(decode_token("Ã©", &table).unwrap(), "é".as_bytes());
        assert!(decode_token("\u{4e2d}", &table).is_err());
    }

    #[test]
    fn keeps_tokens_before_end_of_text() {
        let (tokens, total) = ordinary_tokens("a\nĠb\n<|endoftext|>\n<|en|>\n").unwrap();
        assert_eq!(tokens, vec![b"a".to_vec(), b" b".to_vec()]);
        assert_eq!(total, 4);
    }
}
