//! Reader of CTranslate2's `model.bin` (binary version 6).
//!
//! Layout, all little-endian: `u32` binary version, string spec name, `u32` spec revision, `u32`
//! variable count, then per variable: string name, `u8` rank, rank x `u32` dims, `u8` dtype id,
//! `u32` byte count, raw data; finally `u32` alias count and (alias, target) string pairs. A string
//! is a `u16` length that includes a trailing NUL, then the bytes.

use std::collections::BTreeMap;
use std::ops::Range;

use half::{bf16, f16};

use super::ConvertError;

/// The only binary version this reader understands.
const BINARY_VERSION: u32 = 6;

/// Element types of CTranslate2 variables (ids follow its `DataType` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// Signed 8-bit integer.
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
}

impl DType {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => DType::F32,
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::F16,
            5 => DType::BF16,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }
}

#[derive(Debug, Clone)]
struct VarInfo {
    shape: Vec<usize>,
    dtype: DType,
    range: Range<usize>,
}

/// A parsed model: the file bytes plus an index of its variables.
#[derive(Debug)]
pub struct Ct2Model {
    bytes: Vec<u8>,
    /// Spec name, e.g. `WhisperSpec`.
    pub spec: String,
    /// Spec revision.
    pub revision: u32,
    vars: BTreeMap<String, VarInfo>,
    aliases: BTreeMap<String, String>,
}

/// A borrowed view of one variable (or a row range of it).
#[derive(Debug, Clone)]
pub struct Tensor<'a> {
    /// Dimensions, outermost first (PyTorch order).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Raw little-endian data.
    pub data: &'a [u8],
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<Range<usize>, ConvertError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| {
                ConvertError::Format(format!(
                    "truncated while reading {what} at byte {}",
                    self.pos
                ))
            })?;
        let range = self.pos..end;
        self.pos = end;
        Ok(range)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ConvertError> {
        let range = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[range]);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, ConvertError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, ConvertError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32, ConvertError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<String, ConvertError> {
        let len = usize::from(self.u16(what)?);
        let range = self.take(len, what)?;
        let raw = &self.bytes[range];
        let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
        String::from_utf8(raw.to_vec())
            .map_err(|_| ConvertError::Format(format!("{what} is not UTF-8")))
    }
}

impl Ct2Model {
    /// Parses the bytes of a `model.bin`.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, ConvertError> {
        let mut cur = Cursor {
            bytes: &bytes,
            pos: 0,
        };
        let version = cur.u32("binary version")?;
        if version != BINARY_VERSION {
            return Err(ConvertError::Unsupported(format!(
                "CTranslate2 binary version {version} (only {BINARY_VERSION} is supported)"
            )));
        }
        let spec = cur.string("spec name")?;
        let revision = cur.u32("spec revision")?;
        let count = cur.u32("variable count")?;
        let mut vars = BTreeMap::new();
        for _ in 0..count {
            let name = cur.string("variable name")?;
            let rank = cur.u8("rank")?;
            let shape = (0..rank)
                .map(|_| cur.u32("dimension").map(|d| d as usize))
                .collect::<Result<Vec<_>, _>>()?;
            let id = cur.u8("dtype")?;
            let dtype = DType::from_id(id).ok_or_else(|| {
                ConvertError::Format(format!("`{name}` has unknown dtype id {id}"))
            })?;
            let nbytes = cur.u32("byte count")? as usize;
            let elements: usize = shape.iter().product();
            if elements * dtype.size() != nbytes {
                return Err(ConvertError::Format(format!(
                    "`{name}`: {nbytes} bytes for shape {shape:?} of {dtype:?}"
                )));
            }
            let range = cur.take(nbytes, "variable data")?;
            vars.insert(
                name,
                VarInfo {
                    shape,
                    dtype,
                    range,
                },
            );
        }
        let mut aliases = BTreeMap::new();
        // Old writers may omit the alias table entirely.
        if cur.pos < bytes.len() {
            let count = cur.u32("alias count")?;
            for _ in 0..count {
                let alias = cur.string("alias")?;
                let target = cur.string("alias target")?;
                aliases.insert(alias, target);
            }
        }
        Ok(Ct2Model {
            spec,
            revision,
            vars,
            aliases,
            bytes,
        })
    }

    /// Whether a variable (or alias) exists.
    pub fn has(&self, name: &str) -> bool {
        self.vars.contains_key(name) || self.aliases.contains_key(name)
    }

    /// A variable by name, following aliases.
    pub fn get(&self, name: &str) -> Result<Tensor<'_>, ConvertError> {
        let key = self.aliases.get(name).map_or(name, String::as_str);
        let info = self
            .vars
            .get(key)
            .ok_or_else(|| ConvertError::MissingVariable(name.to_string()))?;
        Ok(Tensor {
            shape: info.shape.clone(),
            dtype: info.dtype,
            data: &self.bytes[info.range.clone()],
        })
    }

    /// An integer scalar (such as `encoder/num_heads`).
    pub fn scalar(&self, name: &str) -> Result<i64, ConvertError> {
        let t = self.get(name)?;
        let d = t.data;
        Ok(match (t.dtype, d.len()) {
            (DType::I8, 1) => i64::from(d[0] as i8),
            (DType::I16, 2) => i64::from(i16::from_le_bytes([d[0], d[1]])),
            (DType::I32, 4) => i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]])),
            _ => {
                return Err(ConvertError::Format(format!(
                    "`{name}` is not an integer scalar"
                )))
            }
        })
    }

    /// Number of consecutive `{prefix}{i}/...` layers, counting from 0.
    pub fn count_layers(&self, prefix: &str) -> usize {
        (0..)
            .take_while(|i| {
                let scope = format!("{prefix}{i}/");
                self.vars
                    .range(scope.clone()..)
                    .next()
                    .is_some_and(|(k, _)| k.starts_with(&scope))
            })
            .count()
    }
}

impl<'a> Tensor<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows `rows` of the outermost dimension (used to split fused projections).
    pub fn rows(&self, rows: Range<usize>) -> Result<Tensor<'a>, ConvertError> {
        let outer = self.shape.first().copied().unwrap_or(0);
        if rows.start > rows.end || rows.end > outer {
            return Err(ConvertError::Format(format!(
                "row range {rows:?} outside shape {:?}",
                self.shape
            )));
        }
        let row_bytes = self.shape[1..].iter().product::<usize>() * self.dtype.size();
        let mut shape = self.shape.clone();
        shape[0] = rows.len();
        Ok(Tensor {
            shape,
            dtype: self.dtype,
            data: &self.data[rows.start * row_bytes..rows.end * row_bytes],
        })
    }

    /// The values as `f32` (floating-point tensors only).
    pub fn to_f32(&self) -> Result<Vec<f32>, ConvertError> {
        let pairs = || {
            self.data
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
        };
        Ok(match self.dtype {
            DType::F32 => self
                .data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F16 => pairs().map(|b| f16::from_bits(b).to_f32()).collect(),
            DType::BF16 => pairs().map(|b| bf16::from_bits(b).to_f32()).collect(),
            other => {
                return Err(ConvertError::Unsupported(format!(
                    "{other:?} weights (quantized models cannot be converted)"
                )))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16 + 1).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }

    /// A two-variable model with one alias, in the binary layout CTranslate2 writes.
    fn sample() -> Vec<u8> {
        let mut b = 6u32.to_le_bytes().to_vec();
        string(&mut b, "WhisperSpec");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&2u32.to_le_bytes());
        string(&mut b, "a/weight");
        b.push(2);
        for d in [2u32, 2] {
            b.extend_from_slice(&d.to_le_bytes());
        }
        b.push(0);
        b.extend_from_slice(&16u32.to_le_bytes());
        for v in [1.0f32, 2.0, 3.0, 4.0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        string(&mut b, "a/num_heads");
        b.push(0);
        b.push(2);
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&6i16.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        string(&mut b, "b/weight");
        string(&mut b, "a/weight");
        b
    }

    #[test]
    fn parses_variables_scalars_and_aliases() {
        let model = Ct2Model::parse(sample()).unwrap();
        assert_eq!((model.spec.as_str(), model.revision), ("WhisperSpec", 3));
        assert_eq!(model.scalar("a/num_heads").unwrap(), 6);
        let aliased = model.get("b/weight").unwrap();
        assert_eq!(aliased.shape, [2, 2]);
        assert_eq!(aliased.rows(1..2).unwrap().to_f32().unwrap(), [3.0, 4.0]);
        assert!(aliased.rows(1..3).is_err());
        assert!(matches!(
            model.get("c"),
            Err(ConvertError::MissingVariable(_))
        ));
        assert_eq!(model.count_layers("a/layer_"), 0);
    }

    #[test]
    fn rejects_truncated_and_foreign_files() {
        let bytes = sample();
        for cut in [3, 20, 40, 60] {
            assert!(
                Ct2Model::parse(bytes[..cut].to_vec()).is_err(),
                "cut at {cut}"
            );
        }
        let mut old = bytes;
        old[0] = 5;
        assert!(matches!(
            Ct2Model::parse(old),
            Err(ConvertError::Unsupported(_))
        ));
    }
}
