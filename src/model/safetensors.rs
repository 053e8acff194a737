//! A safetensors reader: the weight file RuView publishes (`count_v1.safetensors`) and its candle runtime
//! loads.
//!
//! The format is 8 bytes of little-endian header length, a JSON object (tensor name → `dtype`, `shape`,
//! `data_offsets` relative to the data section, plus an optional `__metadata__` map of strings), then the
//! raw little-endian tensor bytes. countscope reads it itself rather than through the `safetensors` crate
//! because it must say more than that crate does when a file is wrong: a duplicated name (which a JSON map
//! silently collapses), two tensors sharing bytes, a dtype it cannot use, each named with the tensor and the
//! byte range. Every check is arithmetic on the header before any tensor is touched, so no bytes can make it
//! allocate more than the file it was given, loop, or panic (`tests/fuzz.rs` holds it to that).
//!
//! F32 tensors are read as they are; F16 and BF16 are widened to f32 (exactly: every half value is an f32
//! value). Tensors of other known dtypes are parsed and bounds-checked but carry no values: asking for them
//! ([`SafeTensors::values`]) is refused with the dtype's name.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::ops::Range;

/// The largest header accepted. A header is ≈ 80 bytes per tensor (CountNet's is 1,132 bytes); 8 MiB is
/// ≈ 100,000 tensors, far past any count model, and bounds what a hostile length can make us parse.
pub const MAX_HEADER: u64 = 8 << 20;
/// The most dimensions a tensor may declare.
const MAX_DIMS: usize = 8;

/// What can be wrong with a safetensors file, each naming where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightsError {
    /// Shorter than the 8-byte length prefix.
    #[error("the file is {0} bytes long; a safetensors file starts with an 8-byte header length")]
    TooShort(usize),
    /// The header length exceeds [`MAX_HEADER`].
    #[error("the header length {declared} (bytes 0..8) is over the {MAX_HEADER}-byte limit")]
    HeaderTooLong {
        /// The length the file declares.
        declared: u64,
    },
    /// The header runs past the end of the file.
    #[error("the header declares {declared} bytes (bytes 8..{end}) but the file has {len} bytes: truncated")]
    HeaderPastEnd {
        /// The length the file declares.
        declared: u64,
        /// Where the header would end.
        end: u64,
        /// The file's length.
        len: usize,
    },
    /// The header is not the JSON object the format defines.
    #[error("the header (bytes 8..{end}) is not a valid safetensors JSON header: {why}")]
    Header {
        /// Where the header ends.
        end: usize,
        /// The parser's reason.
        why: String,
    },
    /// A tensor name appears twice.
    #[error("tensor `{0}` appears twice in the header")]
    Duplicate(String),
    /// A tensor's entry is malformed.
    #[error("tensor `{tensor}`: {why}")]
    Entry {
        /// The tensor.
        tensor: String,
        /// What is wrong.
        why: String,
    },
    /// A tensor's bytes lie outside the data section.
    #[error("tensor `{tensor}`: data bytes {begin}..{end} (file bytes {}..{}) lie outside the data section of {data_len} bytes", begin + data_start, end + data_start)]
    OutOfRange {
        /// The tensor.
        tensor: String,
        /// Start, relative to the data section.
        begin: u64,
        /// End, relative to the data section.
        end: u64,
        /// Where the data section starts in the file.
        data_start: u64,
        /// The data section's length.
        data_len: u64,
    },
    /// A tensor's byte range does not match its shape and dtype.
    #[error("tensor `{tensor}`: {dtype} {shape:?} needs {expected} bytes, its data_offsets {begin}..{end} hold {found}")]
    Size {
        /// The tensor.
        tensor: String,
        /// Its dtype.
        dtype: Dtype,
        /// Its shape.
        shape: Vec<usize>,
        /// Bytes the shape needs.
        expected: u64,
        /// Bytes the offsets give.
        found: u64,
        /// Start.
        begin: u64,
        /// End.
        end: u64,
    },
    /// Two tensors share bytes.
    #[error("tensors `{first}` (data bytes {first_range:?}) and `{second}` (data bytes {second_range:?}) overlap")]
    Overlap {
        /// The earlier tensor.
        first: String,
        /// Its range.
        first_range: Range<u64>,
        /// The later tensor.
        second: String,
        /// Its range.
        second_range: Range<u64>,
    },
    /// A tensor of a dtype countscope does not compute with was asked for.
    #[error(
        "tensor `{tensor}` has dtype {dtype}; countscope reads F32, and widens F16 and BF16 to F32"
    )]
    Dtype {
        /// The tensor.
        tensor: String,
        /// Its dtype.
        dtype: Dtype,
    },
}

/// The element types the format defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Dtype {
    Bool,
    U8,
    I8,
    F8E5M2,
    F8E4M3,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
}

/// Every dtype with its name as the format spells it: the one table `parse` and `name` read.
const DTYPES: [(Dtype, &str); 15] = [
    (Dtype::Bool, "BOOL"),
    (Dtype::U8, "U8"),
    (Dtype::I8, "I8"),
    (Dtype::F8E5M2, "F8_E5M2"),
    (Dtype::F8E4M3, "F8_E4M3"),
    (Dtype::I16, "I16"),
    (Dtype::U16, "U16"),
    (Dtype::F16, "F16"),
    (Dtype::BF16, "BF16"),
    (Dtype::I32, "I32"),
    (Dtype::U32, "U32"),
    (Dtype::F32, "F32"),
    (Dtype::F64, "F64"),
    (Dtype::I64, "I64"),
    (Dtype::U64, "U64"),
];

impl Dtype {
    fn parse(s: &str) -> Option<Self> {
        DTYPES.iter().find(|(_, n)| *n == s).map(|(d, _)| *d)
    }

    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            Self::Bool | Self::U8 | Self::I8 | Self::F8E5M2 | Self::F8E4M3 => 1,
            Self::I16 | Self::U16 | Self::F16 | Self::BF16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::F64 | Self::I64 | Self::U64 => 8,
        }
    }

    /// The name as the format spells it.
    pub fn name(self) -> &'static str {
        DTYPES
            .iter()
            .find(|(d, _)| *d == self)
            .map_or("?", |(_, n)| n)
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Dtype {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One tensor of the file.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// Its name in the header.
    pub name: String,
    /// Its element type.
    pub dtype: Dtype,
    /// Its dimensions.
    pub shape: Vec<usize>,
    /// Its bytes within the data section.
    range: Range<usize>,
}

impl TensorInfo {
    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A parsed, bounds-checked safetensors file (it owns a copy of the bytes it was given).
#[derive(Clone, Debug)]
pub struct SafeTensors {
    tensors: Vec<TensorInfo>,
    metadata: Vec<(String, String)>,
    data: Vec<u8>,
}

/// True when `bytes` start like a safetensors file (a header length whose high bytes are zero, then `{`),
/// which no ONNX protobuf does: used to tell the two apart by content, not by name.
pub fn looks_like(bytes: &[u8]) -> bool {
    bytes.len() > 8 && bytes[8] == b'{' && bytes[4..8] == [0, 0, 0, 0]
}

/// The header's top-level object, with duplicate keys kept (a map type would keep only the last).
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object of tensor entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut v = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    v.push(entry);
                }
                Ok(Entries(v))
            }
        }
        d.deserialize_map(V)
    }
}

fn entry_err(tensor: &str, why: impl Into<String>) -> WeightsError {
    WeightsError::Entry {
        tensor: tensor.to_string(),
        why: why.into(),
    }
}

fn parse_entry(
    name: &str,
    v: &serde_json::Value,
) -> Result<(Dtype, Vec<usize>, [u64; 2]), WeightsError> {
    let obj = v
        .as_object()
        .ok_or_else(|| entry_err(name, "its entry is not an object"))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "dtype" | "shape" | "data_offsets"))
    {
        return Err(entry_err(name, format!("unknown field `{k}`")));
    }
    let dtype = obj
        .get("dtype")
        .ok_or_else(|| entry_err(name, "no `dtype`"))?;
    let dtype_name = dtype
        .as_str()
        .ok_or_else(|| entry_err(name, format!("`dtype` {dtype} is not a string")))?;
    let dtype = Dtype::parse(dtype_name)
        .ok_or_else(|| entry_err(name, format!("unknown dtype {dtype_name:?}")))?;
    let shape = obj
        .get("shape")
        .and_then(|s| s.as_array())
        .ok_or_else(|| entry_err(name, "no `shape` array"))?;
    if shape.len() > MAX_DIMS {
        return Err(entry_err(
            name,
            format!(
                "{} dimensions; at most {MAX_DIMS} are accepted",
                shape.len()
            ),
        ));
    }
    let shape = shape
        .iter()
        .map(|d| {
            d.as_u64()
                .and_then(|d| usize::try_from(d).ok())
                .ok_or_else(|| entry_err(name, format!("dimension {d} is not a size")))
        })
        .collect::<Result<Vec<usize>, _>>()?;
    let offsets = obj
        .get("data_offsets")
        .and_then(|o| o.as_array())
        .filter(|o| o.len() == 2)
        .ok_or_else(|| entry_err(name, "`data_offsets` is not a [begin, end] pair"))?;
    let off = |i: usize| {
        offsets[i].as_u64().ok_or_else(|| {
            entry_err(
                name,
                format!("data offset {} is not a byte count", offsets[i]),
            )
        })
    };
    Ok((dtype, shape, [off(0)?, off(1)?]))
}

impl SafeTensors {
    /// Parse and check a whole file. Nothing here indexes before checking, so no input panics.
    pub fn parse(bytes: &[u8]) -> Result<Self, WeightsError> {
        let prefix: [u8; 8] = bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or(WeightsError::TooShort(bytes.len()))?;
        let declared = u64::from_le_bytes(prefix);
        if declared > MAX_HEADER {
            return Err(WeightsError::HeaderTooLong { declared });
        }
        let end = 8 + declared; // ≤ 8 MiB + 8: no overflow
        if end > bytes.len() as u64 {
            return Err(WeightsError::HeaderPastEnd {
                declared,
                end,
                len: bytes.len(),
            });
        }
        let end = end as usize;
        let header_err = |why: String| WeightsError::Header { end, why };
        let text = std::str::from_utf8(&bytes[8..end])
            .map_err(|e| header_err(format!("not UTF-8 ({e})")))?;
        let Entries(entries) = serde_json::from_str(text).map_err(|e| header_err(e.to_string()))?;
        let data = &bytes[end..];
        let data_len = data.len() as u64;
        let mut tensors: Vec<TensorInfo> = Vec::with_capacity(entries.len());
        let mut metadata = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (name, value) in &entries {
            if !seen.insert(name.as_str()) {
                return Err(WeightsError::Duplicate(name.clone()));
            }
            if name == "__metadata__" {
                let map = value
                    .as_object()
                    .ok_or_else(|| header_err("`__metadata__` is not an object".into()))?;
                for (k, v) in map {
                    let v = v.as_str().ok_or_else(|| {
                        header_err(format!("`__metadata__` value of `{k}` is not a string"))
                    })?;
                    metadata.push((k.clone(), v.to_string()));
                }
                continue;
            }
            let (dtype, shape, [begin, stop]) = parse_entry(name, value)?;
            if begin > stop || stop > data_len {
                return Err(WeightsError::OutOfRange {
                    tensor: name.clone(),
                    begin,
                    end: stop,
                    data_start: end as u64,
                    data_len,
                });
            }
            // The shape's byte size, saturating: a product past u64 cannot equal a range within the file.
            let expected = shape
                .iter()
                .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d as u64))
                .unwrap_or(u64::MAX);
            if expected != stop - begin {
                return Err(WeightsError::Size {
                    tensor: name.clone(),
                    dtype,
                    shape,
                    expected,
                    found: stop - begin,
                    begin,
                    end: stop,
                });
            }
            tensors.push(TensorInfo {
                name: name.clone(),
                dtype,
                shape,
                // Both ≤ data_len, which is a usize.
                range: begin as usize..stop as usize,
            });
        }
        let mut by_start: Vec<&TensorInfo> =
            tensors.iter().filter(|t| !t.range.is_empty()).collect();
        by_start.sort_by_key(|t| (t.range.start, t.range.end));
        for pair in by_start.windows(2) {
            if pair[1].range.start < pair[0].range.end {
                let r = |t: &TensorInfo| t.range.start as u64..t.range.end as u64;
                return Err(WeightsError::Overlap {
                    first: pair[0].name.clone(),
                    first_range: r(pair[0]),
                    second: pair[1].name.clone(),
                    second_range: r(pair[1]),
                });
            }
        }
        Ok(Self {
            tensors,
            metadata,
            data: data.to_vec(),
        })
    }

    /// Every tensor, in header order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The `__metadata__` entries, in header order.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// Total elements of the floating-point tensors (what `inspect` calls parameters).
    pub fn parameters(&self) -> u64 {
        self.tensors
            .iter()
            .filter(|t| matches!(t.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64))
            .map(|t| t.elements() as u64)
            .sum()
    }

    /// A tensor's values as f32 (F16 and BF16 widened exactly); other dtypes are refused by name.
    pub fn values(&self, t: &TensorInfo) -> Result<Vec<f32>, WeightsError> {
        let bytes = &self.data[t.range.clone()];
        let two = |b: &[u8]| u16::from_le_bytes([b[0], b[1]]);
        Ok(match t.dtype {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_bits(two(b)).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_bits(two(b)).to_f32())
                .collect(),
            dtype => {
                return Err(WeightsError::Dtype {
                    tensor: t.name.clone(),
                    dtype,
                })
            }
        })
    }
}

/// The one name normalisation used to match an ONNX initializer with a safetensors tensor: drop a leading
/// `onnx::` (the TorchScript exporter's prefix) and a leading `p_` (torch.export's parameter prefix), then
/// write every `.` as `_`. So `enc.c1.weight` (the PyTorch module path, as safetensors stores it),
/// `enc_c1.weight` (the dynamo exporter's initializer name in RuView's `count_v1.onnx`) and
/// `p_enc_c1_weight` (the exported program's placeholder) are one key: `enc_c1_weight`. Anonymous
/// initializers (`onnx::Conv_123`) normalise to keys no module path has, so they never match by accident.
pub fn normalise_name(name: &str) -> String {
    let n = name.strip_prefix("onnx::").unwrap_or(name);
    let n = n.strip_prefix("p_").unwrap_or(n);
    n.replace('.', "_")
}

/// Write a safetensors file (tests and fixtures: F32 tensors only, in the order given).
pub fn write_f32(tensors: &[(&str, &[usize], &[f32])], metadata: &[(&str, &str)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        let m: serde_json::Map<String, serde_json::Value> = metadata
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        header.insert("__metadata__".into(), m.into());
    }
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let begin = data.len();
        values
            .iter()
            .for_each(|v| data.extend_from_slice(&v.to_le_bytes()));
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [begin, data.len()]}),
        );
    }
    let mut text = serde_json::Value::Object(header).to_string().into_bytes();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&data);
    out
}

/// A safetensors file with its JSON header rewritten by `edit` and its data kept (tests and fixtures: how
/// the refusal tests make each broken file from a good one). Bytes too short to hold their header are
/// returned as they are.
pub fn with_header(bytes: &[u8], edit: impl Fn(&str) -> String) -> Vec<u8> {
    let n = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(u64::MAX);
    let Some(header) = usize::try_from(n)
        .ok()
        .and_then(|n| bytes.get(8..n.checked_add(8)?))
    else {
        return bytes.to_vec();
    };
    let text = edit(&String::from_utf8_lossy(header));
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + header.len()..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Vec<u8> {
        write_f32(
            &[
                ("a.weight", &[2, 3], &[1., 2., 3., 4., 5., 6.]),
                ("a.bias", &[2], &[7., 8.]),
            ],
            &[("format", "pt")],
        )
    }

    #[test]
    fn reads_what_it_writes() {
        let bytes = file();
        assert!(looks_like(&bytes));
        let st = SafeTensors::parse(&bytes).unwrap();
        assert_eq!(st.tensors().len(), 2);
        assert_eq!(st.metadata(), &[("format".to_string(), "pt".to_string())]);
        let w = st.tensors().iter().find(|t| t.name == "a.weight").unwrap();
        assert_eq!(w.shape, vec![2, 3]);
        assert_eq!(st.values(w).unwrap(), vec![1., 2., 3., 4., 5., 6.]);
        assert_eq!(st.parameters(), 8);
    }

    /// `file()` with `edit` applied to its header.
    fn edited(edit: impl Fn(&str) -> String) -> Vec<u8> {
        with_header(&file(), edit)
    }

    #[test]
    fn half_precision_is_widened_and_other_dtypes_are_named() {
        // 1.5 as F16 is 0x3E00; as BF16 0x3FC0.
        let mk = |dtype: &str, bits: u16| {
            let text = format!(r#"{{"x":{{"dtype":"{dtype}","shape":[1],"data_offsets":[0,2]}}}}"#);
            let mut b = (text.len() as u64).to_le_bytes().to_vec();
            b.extend_from_slice(text.as_bytes());
            b.extend_from_slice(&bits.to_le_bytes());
            b
        };
        for (dtype, bits) in [("F16", 0x3E00), ("BF16", 0x3FC0)] {
            let st = SafeTensors::parse(&mk(dtype, bits)).unwrap();
            assert_eq!(st.values(&st.tensors()[0]).unwrap(), vec![1.5], "{dtype}");
        }
        let st = SafeTensors::parse(&mk("I16", 1)).unwrap();
        let e = st.values(&st.tensors()[0]).unwrap_err().to_string();
        assert!(e.contains("`x` has dtype I16"), "{e}");
        let e = SafeTensors::parse(&mk("Q4", 1)).unwrap_err().to_string();
        assert!(e.contains("unknown dtype \"Q4\""), "{e}");
    }

    #[test]
    fn every_broken_file_is_named() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![1, 2, 3], "8-byte header length"),
            (
                {
                    let mut b = file();
                    b[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
                    b
                },
                "over the",
            ),
            (
                {
                    let mut b = file();
                    b[..8].copy_from_slice(&10_000u64.to_le_bytes());
                    b
                },
                "truncated",
            ),
            (
                {
                    let b = file();
                    b[..b.len() - 3].to_vec()
                },
                "`a.bias`: data bytes 24..32",
            ),
            (edited(|h| h.replace("[24,32]", "[20,28]")), "overlap"),
            (edited(|h| h.replace("[2,3]", "[3,3]")), "needs 36 bytes"),
            (
                edited(|h| h.replace("\"a.bias\"", "\"a.weight\"")),
                "appears twice",
            ),
            (edited(|h| h.replace("\"F32\"", "\"F99\"")), "unknown dtype"),
            (
                edited(|_| "[1,2]".into()),
                "not a valid safetensors JSON header",
            ),
            (
                edited(|h| h.replace("\"shape\"", "\"shap\"")),
                "unknown field",
            ),
        ];
        for (bytes, needle) in cases {
            let e = SafeTensors::parse(&bytes).expect_err(needle).to_string();
            assert!(e.contains(needle), "{needle:?} not in {e:?}");
        }
    }

    #[test]
    fn names_normalise_across_exporters() {
        for n in [
            "enc.c1.weight",
            "enc_c1.weight",
            "p_enc_c1_weight",
            "onnx::enc.c1.weight",
        ] {
            assert_eq!(normalise_name(n), "enc_c1_weight", "{n}");
        }
        assert_eq!(normalise_name("onnx::Conv_123"), "Conv_123");
    }
}
