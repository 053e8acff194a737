//! One JSONL line → one [`Record`] or a one-line reason why not.
//!
//! A line of the common shape is read by [`super::fastline`] in one pass. Every other line, and so every
//! bad one, is read by serde_json: the `csi` array by a hand-written serde visitor straight into `f32`s
//! (no `serde_json::Value` per number), the small fields as `Value` so the error messages can say exactly
//! what was found. Both give the same [`RawLine`] for any line the fast path reads.

use super::{LayoutPolicy, LayoutUsed, Record};
use crate::{time, N_CLASSES, N_FRAMES, N_SUBCARRIERS, WINDOW_LEN};
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

/// The fields of a line countscope reads (others are ignored), as serde_json or the fast path
/// ([`super::fastline`]) decoded them.
#[derive(Default, Deserialize)]
pub(crate) struct RawLine {
    pub(crate) csi: Option<Csi>,
    pub(crate) csi_shape: Option<Value>,
    pub(crate) n_persons_mode: Option<Value>,
    pub(crate) n_persons_max: Option<Value>,
    pub(crate) ts_start: Option<Value>,
    pub(crate) ts_end: Option<Value>,
    pub(crate) timestamp: Option<Value>,
    pub(crate) synthetic: Option<Value>,
}

/// `csi` as decoded: all values in document order, plus the row length when nested.
pub(crate) struct Csi {
    pub(crate) values: Vec<f32>,
    /// `None` for a flat array, `Some(row_len)` for an array of equal-length rows.
    pub(crate) rows: Option<usize>,
}

impl<'de> Deserialize<'de> for Csi {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(CsiVisitor)
    }
}

struct CsiVisitor;

impl<'de> Visitor<'de> for CsiVisitor {
    type Value = Csi;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of numbers or an array of rows of numbers")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Csi, A::Error> {
        let mut values = Vec::with_capacity(WINDOW_LEN);
        let mut rows: Option<usize> = None;
        let mut index = 0usize;
        loop {
            let seed = Element {
                out: &mut values,
                index,
            };
            let Some(kind) = seq.next_element_seed(seed)? else {
                break;
            };
            match (kind, index, rows) {
                (ElementKind::Scalar, _, None) => {}
                (ElementKind::Row(n), 0, _) => rows = Some(n),
                (ElementKind::Row(n), _, Some(first)) if n == first => {}
                (ElementKind::Row(n), _, Some(first)) => {
                    return Err(de::Error::custom(format!(
                        "csi row {index} has {n} values but row 0 has {first}: rows must be equal length"
                    )))
                }
                _ => return Err(de::Error::custom("csi mixes numbers and rows")),
            }
            index += 1;
        }
        Ok(Csi { values, rows })
    }
}

enum ElementKind {
    Scalar,
    Row(usize),
}

/// One element of `csi`: a number (flat array) or a row of numbers (nested array).
struct Element<'a> {
    out: &'a mut Vec<f32>,
    index: usize,
}

fn push_number<E: de::Error>(
    out: &mut Vec<f32>,
    v: f64,
    what: impl Fn() -> String,
) -> Result<(), E> {
    let x = v as f32;
    if !x.is_finite() {
        return Err(E::custom(format!(
            "{} = {v} is not a finite 32-bit number",
            what()
        )));
    }
    out.push(x);
    Ok(())
}

impl<'de> DeserializeSeed<'de> for Element<'_> {
    type Value = ElementKind;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ElementKind, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Element<'_> {
    type Value = ElementKind;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a number or a row of numbers at csi[{}]", self.index)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ElementKind, E> {
        let i = self.index;
        push_number(self.out, v, || format!("csi[{i}]")).map(|_| ElementKind::Scalar)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ElementKind, E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ElementKind, E> {
        self.visit_f64(v as f64)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ElementKind, A::Error> {
        let before = self.out.len();
        let row = self.index;
        let mut col = 0usize;
        while seq
            .next_element_seed(Number {
                out: self.out,
                row,
                col,
            })?
            .is_some()
        {
            col += 1;
        }
        Ok(ElementKind::Row(self.out.len() - before))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<ElementKind, E> {
        Err(E::custom(format!(
            "csi[{}] is the string {v:?}, not a number",
            self.index
        )))
    }
    fn visit_unit<E: de::Error>(self) -> Result<ElementKind, E> {
        Err(E::custom(format!(
            "csi[{}] is null, not a number",
            self.index
        )))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<ElementKind, E> {
        Err(E::custom(format!(
            "csi[{}] is {v}, not a number",
            self.index
        )))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<ElementKind, A::Error> {
        Err(de::Error::custom(format!(
            "csi[{}] is an object, not a number",
            self.index
        )))
    }
}

/// One number inside a nested `csi` row.
struct Number<'a> {
    out: &'a mut Vec<f32>,
    row: usize,
    col: usize,
}

impl<'de> DeserializeSeed<'de> for Number<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Number<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a number at csi[{}][{}]", self.row, self.col)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        let (r, c) = (self.row, self.col);
        push_number(self.out, v, || format!("csi[{r}][{c}]"))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
}

/// Strip serde_json's "at line 1 column N" (always line 1 here: each line is parsed alone) and say column.
fn json_reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    };
    match e.classify() {
        serde_json::error::Category::Data => format!("{msg} (column {})", e.column()),
        _ => format!("invalid JSON at column {}: {msg}", e.column()),
    }
}

/// Parse one line (already stripped of its newline, CR and BOM) into a [`Record`].
pub(crate) fn parse_line(bytes: &[u8], line: u64, policy: LayoutPolicy) -> Result<Record, String> {
    // serde's derived structs also accept arrays (fields by position): a line must be an object.
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        _ => return Err("not a JSON object: a line must be one {...} object".into()),
    }
    // The common shape in one pass; anything else (every bad line among it) through serde_json.
    let raw: RawLine = match super::fastline::parse(bytes) {
        Some(raw) => raw,
        None => serde_json::from_slice(bytes).map_err(|e| json_reason(&e))?,
    };
    let csi = raw.csi.ok_or("no csi field")?;
    let shape_label = raw.csi_shape.as_ref().map(parse_shape).transpose()?;
    let (window, layout) = to_model_order(csi, shape_label, policy)?;
    let truth = raw
        .n_persons_mode
        .as_ref()
        .and_then(|v| (!v.is_null()).then_some(v))
        .map(parse_label)
        .transpose()?;
    let truth_max = raw
        .n_persons_max
        .as_ref()
        .and_then(|v| (!v.is_null()).then_some(v))
        .map(parse_max)
        .transpose()?;
    let ts_start = match (&raw.ts_start, &raw.timestamp) {
        (Some(v), _) if !v.is_null() => Some(parse_time(v, "ts_start")?),
        (_, Some(v)) if !v.is_null() => Some(parse_time(v, "timestamp")?),
        _ => None,
    };
    let ts_end = raw
        .ts_end
        .as_ref()
        .filter(|v| !v.is_null())
        .map(|v| parse_time(v, "ts_end"))
        .transpose()?;
    let synthetic = match raw.synthetic {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    };
    Ok(Record {
        line,
        window,
        truth,
        truth_max,
        ts_start,
        ts_end,
        layout,
        shape_label,
        synthetic,
        node: None,
    })
}

fn parse_shape(v: &Value) -> Result<[u32; 2], String> {
    let bad = || format!("csi_shape {v} is not two positive integers");
    let arr = v.as_array().ok_or_else(bad)?;
    if arr.len() != 2 {
        return Err(bad());
    }
    let dim = |x: &Value| {
        x.as_u64()
            .filter(|&n| n > 0 && n <= u32::MAX as u64)
            .map(|n| n as u32)
    };
    let (a, b) = (dim(&arr[0]).ok_or_else(bad)?, dim(&arr[1]).ok_or_else(bad)?);
    Ok([a, b])
}

fn shape_error(a: usize, b: usize) -> String {
    format!("csi shape [{a},{b}] cannot feed the model, which takes {N_SUBCARRIERS} subcarriers × {N_FRAMES} frames ([20,56] or [56,20])")
}

fn to_model_order(
    csi: Csi,
    label: Option<[u32; 2]>,
    policy: LayoutPolicy,
) -> Result<(Vec<f32>, LayoutUsed), String> {
    let n = csi.values.len();
    if let Some(row_len) = csi.rows {
        let n_rows = n.checked_div(row_len).unwrap_or(0);
        return match (n_rows, row_len) {
            (N_SUBCARRIERS, N_FRAMES) => Ok((csi.values, LayoutUsed::NestedSubcarrierMajor)),
            (N_FRAMES, N_SUBCARRIERS) => Ok((transpose(&csi.values), LayoutUsed::NestedFrameMajor)),
            (r, c) => Err(shape_error(r, c)),
        };
    }
    if let Some([a, b]) = label {
        let (a, b) = (a as usize, b as usize);
        if !matches!(
            (a, b),
            (N_FRAMES, N_SUBCARRIERS) | (N_SUBCARRIERS, N_FRAMES)
        ) {
            return Err(shape_error(a, b));
        }
    }
    if n != WINDOW_LEN {
        let label = label.map_or("a 56 × 20 window".to_string(), |[a, b]| {
            format!("csi_shape [{a},{b}]")
        });
        return Err(format!("csi has {n} values; {label} needs {WINDOW_LEN}"));
    }
    let frame_major = match policy {
        LayoutPolicy::FrameMajor => true,
        LayoutPolicy::AsStored => false,
        LayoutPolicy::Labelled => label != Some([N_SUBCARRIERS as u32, N_FRAMES as u32]),
    };
    Ok(if frame_major {
        (transpose(&csi.values), LayoutUsed::Transposed)
    } else {
        (csi.values, LayoutUsed::AsStored)
    })
}

/// `[20][56]` frame-major → `[56][20]` model order.
fn transpose(frame_major: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; WINDOW_LEN];
    for (f, frame) in frame_major.chunks_exact(N_SUBCARRIERS).enumerate() {
        for (s, &v) in frame.iter().enumerate() {
            out[s * N_FRAMES + f] = v;
        }
    }
    out
}

fn parse_label(v: &Value) -> Result<u8, String> {
    let x = v
        .as_f64()
        .ok_or_else(|| format!("n_persons_mode {v} is not a number"))?;
    if x < 0.0 {
        return Err(format!(
            "n_persons_mode is {v}; a person count cannot be negative"
        ));
    }
    if x.fract() != 0.0 {
        return Err(format!(
            "n_persons_mode is {v}; a person count must be a whole number"
        ));
    }
    if x >= N_CLASSES as f64 {
        return Err(format!(
            "n_persons_mode is {v}; the model counts 0 to {} persons",
            N_CLASSES - 1
        ));
    }
    Ok(x as u8)
}

/// `n_persons_max`: a whole count of people (any number a window can hold, not only the model's classes).
fn parse_max(v: &Value) -> Result<u8, String> {
    match v.as_f64() {
        Some(x) if x >= 0.0 && x.fract() == 0.0 && x < u8::MAX as f64 => Ok(x as u8),
        _ => Err(format!(
            "n_persons_max is {v}; expected a whole person count from 0 to {}",
            u8::MAX - 1
        )),
    }
}

fn parse_time(v: &Value, field: &str) -> Result<f64, String> {
    let t = match v {
        Value::String(s) => time::parse_iso8601(s),
        Value::Number(n) => n.as_f64().and_then(time::from_number),
        _ => None,
    };
    t.ok_or_else(|| {
        format!("{field} {v} is neither an ISO-8601 time nor seconds/milliseconds since the epoch")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(shape: Option<&str>) -> String {
        let csi: Vec<String> = (0..WINDOW_LEN).map(|i| i.to_string()).collect();
        let shape = shape
            .map(|s| format!(",\"csi_shape\":{s}"))
            .unwrap_or_default();
        format!("{{\"csi\":[{}]{shape},\"n_persons_mode\":2,\"ts_start\":\"2026-05-20T14:31:07.412Z\",\"ts_end\":1779287468.2,\"kp\":[[0.1,0.2]],\"conf\":0.9}}", csi.join(","))
    }

    #[test]
    fn labelled_20x56_is_transposed_and_56x20_is_as_stored() {
        let r = parse_line(flat(Some("[20,56]")).as_bytes(), 1, LayoutPolicy::Labelled).unwrap();
        assert_eq!(r.layout, LayoutUsed::Transposed);
        // model [s=1][f=0] is flat index f*56+s = 1; model [s=0][f=1] is flat 56.
        assert_eq!((r.window[20], r.window[1]), (1.0, 56.0));
        let r = parse_line(flat(Some("[56,20]")).as_bytes(), 1, LayoutPolicy::Labelled).unwrap();
        assert_eq!(r.layout, LayoutUsed::AsStored);
        assert_eq!((r.window[20], r.window[1]), (20.0, 1.0));
        assert_eq!(r.truth, Some(2));
        assert!((r.ts_end.unwrap() - 1_779_287_468.2).abs() < 1e-6);
    }

    #[test]
    fn overrides_flip_the_reading() {
        let r = parse_line(flat(Some("[20,56]")).as_bytes(), 1, LayoutPolicy::AsStored).unwrap();
        assert_eq!(r.layout, LayoutUsed::AsStored);
        let r = parse_line(
            flat(Some("[56,20]")).as_bytes(),
            1,
            LayoutPolicy::FrameMajor,
        )
        .unwrap();
        assert_eq!(r.layout, LayoutUsed::Transposed);
        let r = parse_line(flat(None).as_bytes(), 1, LayoutPolicy::Labelled).unwrap();
        assert_eq!(r.layout, LayoutUsed::Transposed);
    }

    #[test]
    fn nested_rows_in_either_orientation() {
        let sc_major: Vec<Vec<f32>> = (0..56)
            .map(|s| (0..20).map(|f| (s * 20 + f) as f32).collect())
            .collect();
        let line = serde_json::json!({ "csi": sc_major }).to_string();
        let r = parse_line(line.as_bytes(), 1, LayoutPolicy::Labelled).unwrap();
        assert_eq!(r.layout, LayoutUsed::NestedSubcarrierMajor);
        assert_eq!(
            r.window,
            (0..WINDOW_LEN).map(|i| i as f32).collect::<Vec<_>>()
        );
        let frame_major: Vec<Vec<f32>> = (0..20)
            .map(|f| (0..56).map(|s| (s * 20 + f) as f32).collect())
            .collect();
        let line = serde_json::json!({ "csi": frame_major, "n_persons_mode": null }).to_string();
        let r2 = parse_line(line.as_bytes(), 1, LayoutPolicy::Labelled).unwrap();
        assert_eq!(r2.window, r.window);
        assert_eq!(r2.truth, None);
        assert_eq!(r2.truth_max, None);
        let line =
            serde_json::json!({ "csi": frame_major, "n_persons_mode": 1, "n_persons_max": 9 });
        let r3 = parse_line(line.to_string().as_bytes(), 1, LayoutPolicy::Labelled).unwrap();
        assert_eq!((r3.truth, r3.truth_max), (Some(1), Some(9)));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let cases: &[(String, &str)] = &[
            ("{\"csi\":[1,2".into(), "invalid JSON"),
            ("[1,2,3]".into(), "not a JSON object"),
            ("{\"csi\":[1,\"x\"]}".into(), "csi[1] is the string \"x\""),
            ("{\"csi\":[1,null]}".into(), "csi[1] is null"),
            ("{\"csi\":[1,1e39]}".into(), "not a finite"),
            (
                "{\"csi\":[1,2,3],\"csi_shape\":[20,56]}".into(),
                "csi has 3 values; csi_shape [20,56] needs 1120",
            ),
            (
                flat(Some("[20,70]")),
                "csi shape [20,70] cannot feed the model",
            ),
            (
                flat(Some("[20]")),
                "csi_shape [20] is not two positive integers",
            ),
            (
                flat(None).replace("\"n_persons_mode\":2", "\"n_persons_mode\":-1"),
                "cannot be negative",
            ),
            (
                flat(None).replace("\"n_persons_mode\":2", "\"n_persons_mode\":8"),
                "0 to 7 persons",
            ),
            (
                flat(None).replace("\"n_persons_mode\":2", "\"n_persons_mode\":1.5"),
                "whole number",
            ),
            (
                flat(None).replace("\"n_persons_mode\":2", "\"n_persons_max\":-2"),
                "n_persons_max is -2; expected a whole person count",
            ),
            (
                flat(None).replace("\"2026-05-20T14:31:07.412Z\"", "\"yesterday\""),
                "ts_start \"yesterday\"",
            ),
            (
                "{\"csi\":[[1,2],[3]]}".into(),
                "csi row 1 has 1 values but row 0 has 2",
            ),
            ("{\"n_persons_mode\":1}".into(), "no csi field"),
        ];
        for (line, want) in cases {
            let err = parse_line(line.as_bytes(), 7, LayoutPolicy::Labelled).unwrap_err();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
            assert!(!err.contains('\n'));
        }
    }
}
