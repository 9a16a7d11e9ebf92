//! Reading numpy `.npz` archives: a zip of `.npy` arrays. The encoder's `weights.npz` is
//! deflate-compressed, which candle's own npz reader (built without a deflate codec) cannot open,
//! so arrays are read here with the workspace's zip crate and handed to candle as plain vectors.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// An open `.npz` archive.
pub(super) struct Npz {
    archive: zip::ZipArchive<BufReader<File>>,
}

/// One array: its shape and its elements in C order.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Array<T> {
    pub shape: Vec<usize>,
    pub data: Vec<T>,
}

/// Element types the encoder reads.
pub(super) trait Element: Sized + Copy {
    /// The npy `descr` of this type, without the byte-order mark.
    const DESCR: &'static str;
    fn from_le(bytes: &[u8]) -> Self;
}

impl Element for f32 {
    const DESCR: &'static str = "f4";
    fn from_le(bytes: &[u8]) -> Self {
        f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }
}

impl Element for f64 {
    const DESCR: &'static str = "f8";
    fn from_le(bytes: &[u8]) -> Self {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[..8]);
        f64::from_le_bytes(b)
    }
}

impl Element for u8 {
    const DESCR: &'static str = "u1";
    fn from_le(bytes: &[u8]) -> Self {
        bytes[0]
    }
}

impl Npz {
    /// Opens an archive; the error says what is wrong with it.
    pub fn open(path: &Path) -> Result<Self, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| e.to_string())?;
        Ok(Npz { archive })
    }

    /// Reads the array `name` (without `.npy`), which must hold elements of type `T`.
    pub fn array<T: Element>(&mut self, name: &str) -> Result<Array<T>, String> {
        let mut member = self
            .archive
            .by_name(&format!("{name}.npy"))
            .map_err(|e| format!("array `{name}`: {e}"))?;
        let mut bytes = Vec::with_capacity(usize::try_from(member.size()).unwrap_or(0));
        member
            .read_to_end(&mut bytes)
            .map_err(|e| format!("array `{name}`: {e}"))?;
        parse_npy(&bytes).map_err(|e| format!("array `{name}`: {e}"))
    }
}

/// Parses a `.npy` file of little-endian (or single-byte) elements in C order.
fn parse_npy<T: Element>(bytes: &[u8]) -> Result<Array<T>, String> {
    let rest = bytes.strip_prefix(b"\x93NUMPY").ok_or("not a .npy file")?;
    let (major, rest) = rest.split_first().ok_or("truncated header")?;
    let rest = rest.get(1..).ok_or("truncated header")?;
    let (len, rest) = match *major {
        1 => {
            let len = rest
                .get(..2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .ok_or("truncated header")?;
            (usize::from(len), &rest[2..])
        }
        2 | 3 => {
            let len = rest
                .get(..4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or("truncated header")?;
            (len as usize, &rest[4..])
        }
        v => return Err(format!("npy version {v} is not supported")),
    };
    let header = rest.get(..len).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let data = &rest[len..];
    let descr = dict_value(header, "descr").ok_or("no descr")?;
    let descr = descr.trim_matches(['\'', '"']);
    let (order, kind) = descr.split_at_checked(1).ok_or("empty descr")?;
    if kind != T::DESCR || !matches!(order, "<" | "|" | "=") {
        return Err(format!("holds `{descr}`, expected `{}`", T::DESCR));
    }
    if dict_value(header, "fortran_order") != Some("False") {
        return Err("Fortran order is not supported".into());
    }
    let shape_text = dict_value(header, "shape").ok_or("no shape")?;
    let shape = shape_text
        .trim_matches(['(', ')'])
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<usize>()
                .map_err(|_| format!("bad shape {shape_text}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let count: usize = shape.iter().product();
    let width = std::mem::size_of::<T>();
    if data.len() != count * width {
        return Err(format!(
            "{} data bytes for shape {shape:?}, expected {}",
            data.len(),
            count * width
        ));
    }
    let data = data.chunks_exact(width).map(T::from_le).collect();
    Ok(Array { shape, data })
}

/// The text of `key`'s value in the header's Python dict literal (tuples kept whole).
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn arrays_of_the_expected_type_are_read() {
        let data: Vec<u8> = [1.0f32, -2.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let a: Array<f32> = parse_npy(&npy("<f4", "(2,)", &data)).unwrap();
        assert_eq!(a.shape, [2]);
        assert_eq!(a.data, [1.0, -2.5]);
        let s: Array<f64> = parse_npy(&npy("<f8", "()", &0.5f64.to_le_bytes())).unwrap();
        assert!(s.shape.is_empty() && s.data == [0.5]);
        let q: Array<u8> = parse_npy(&npy("|u1", "(2, 3)", &[0, 1, 2, 3, 4, 5])).unwrap();
        assert_eq!(q.shape, [2, 3]);
    }

    #[test]
    fn wrong_type_or_size_is_refused() {
        let e = parse_npy::<f32>(&npy("<f8", "(1,)", &[0; 8])).unwrap_err();
        assert!(e.contains("expected `f4`"), "{e}");
        assert!(parse_npy::<u8>(&npy("|u1", "(3,)", &[0; 2])).is_err());
        assert!(parse_npy::<u8>(b"PK\x03\x04").is_err());
    }
}
