//! RuView's CSI frame files, one frame per line, framed into windows the model can take.
//!
//! Two formats, told apart line by line by their keys:
//! - **the sensing-server's recorder** (`*.csi.jsonl`, `recording.rs`): `{"timestamp", "subcarriers":
//!   [56 amplitudes], "rssi", "noise_floor", "features"}`, one node;
//! - **raw ESP32 frames** as the server received them: `{"timestamp", "node_id", "type": "raw_csi",
//!   "iq_hex", "subcarriers": 64 | 128 | 192, …}`, where `iq_hex` holds signed 8-bit I,Q pairs. Lines of
//!   other types (`vitals`, `feature`, and untyped ones) are skipped and counted by type.
//!
//! **64 → 56.** RuView's sensing server records the amplitudes √(I² + Q²) of the first 56 I/Q pairs of a
//! frame, in the ESP32's order (`frame.amplitudes.iter().take(56)` before `recording::maybe_record_frame`,
//! in `rust-port/wifi-densepose-rs/crates/wifi-densepose-sensing-server/src/main.rs` at RuView commit
//! 113011e7, 2026-03-02, the day the recorder sample was made; `parse_esp32_frame` in `csi.rs` computes
//! the amplitudes). countscope applies the same rule to 64-bin raw frames. The first 56 bins of a 64-bin
//! HT20 FFT in ESP32 order are DC, +1…+31 and −32…−25: DC and the guard band (+27…+31, −32…−27) are 0,
//! which is the recorder file's zeros at indices 0 and 27–37, and what the raw file's 64-bin frames
//! give under this rule (tested). Frames of 128 or 192 bins are skipped and counted: no rule for them is
//! published, and none is guessed. (RuView's paired-recording script skips the first pair as "DC offset"
//! instead: a different window of bins, not the one its server records.)
//!
//! **Framing.** Frames are windowed **per node** (the recorder's frames are one node): 20 consecutive
//! frames of one node make a window, frame-major `[20][56]`, which enters the model in model order
//! (or as stored with `--layout as-stored`, what RuView's cog feeds). Windows do not overlap unless a hop
//! below 20 is asked for (`hop 1` is RuView's sliding cog). A window never spans a gap: an interval longer
//! than [`GAP_FACTOR`] × the median of that node's intervals so far (once [`MIN_INTERVALS`] are known) is
//! a gap, and the frames gathered before it are left over. A frame with the same timestamp as the node's
//! previous one is a duplicate and dropped; a timestamp going backwards is a gap. A window is numbered by
//! the line of its last frame, which completed it, so windows stay in line order when nodes interleave.

use super::{LayoutPolicy, LayoutUsed, Record};
use crate::{N_FRAMES, N_SUBCARRIERS};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

/// An interval longer than this many times the node's median interval is a gap.
pub const GAP_FACTOR: f64 = 3.0;
/// Intervals a node must have shown before a gap can be called.
pub const MIN_INTERVALS: usize = 4;
/// Line types counted by name; further ones are counted together.
const MAX_TYPES: usize = 32;

/// What a frame line holds.
#[derive(Clone, Debug, PartialEq)]
pub enum FrameLine {
    /// A frame of 56 amplitudes (boxed: it is ten times the size of a skip).
    Frame(Box<Frame>),
    /// A line skipped, not an error: another type, or a width with no published mapping.
    Skipped(Skip),
}

/// Why a frame line was skipped.
#[derive(Clone, Debug, PartialEq)]
pub enum Skip {
    /// A line of another type (`vitals`, `feature`, `untyped`).
    Type(String),
    /// A frame of a width with no published mapping (not 56 or 64 bins).
    Width {
        /// Its node.
        node: Option<u8>,
        /// Its bins.
        width: usize,
    },
}

/// One frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// The ESP32 node (`None` in the recorder format, which holds one).
    pub node: Option<u8>,
    /// Seconds since the Unix epoch.
    pub ts: f64,
    /// Bins in the frame as received (56 for the recorder, 64 for raw frames mapped by the rule above).
    pub width: usize,
    /// The 56 amplitudes.
    pub amplitudes: [f32; N_SUBCARRIERS],
}

/// `subcarriers`: a list of amplitudes (recorder) or a bin count (raw frames).
#[derive(Deserialize)]
#[serde(untagged)]
enum Subcarriers {
    List(Vec<f64>),
    Count(u64),
}

#[derive(Deserialize)]
struct Line<'a> {
    timestamp: Option<f64>,
    #[serde(rename = "type", borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
    node_id: Option<u8>,
    subcarriers: Option<Subcarriers>,
    #[serde(borrow)]
    iq_hex: Option<std::borrow::Cow<'a, str>>,
}

/// Whether a line is a frame line (rather than a paired window): it has no `csi`, and it names
/// `subcarriers`, `iq_hex` or a `type`, or the file is already known to be a frame file (`in_frames`: its
/// other lines, such as the raw file's untyped ones, are then counted, not reported as bad windows).
pub fn is_frame_line(bytes: &[u8], in_frames: bool) -> bool {
    let has = |key: &[u8]| memchr::memmem::find(bytes, key).is_some();
    !has(b"\"csi\"")
        && (in_frames || has(b"\"subcarriers\"") || has(b"\"iq_hex\"") || has(b"\"type\""))
}

fn hex_nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Read one frame line (see the module docs); the error is a one-line reason.
pub fn parse_frame(bytes: &[u8]) -> Result<FrameLine, String> {
    let line: Line = serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))?;
    let ts = |l: &Line| {
        l.timestamp
            .filter(|t| t.is_finite())
            .ok_or_else(|| "a frame without a finite timestamp".to_string())
    };
    match (line.kind.as_deref(), &line.subcarriers) {
        (Some("raw_csi"), _) => {
            let hex = line
                .iq_hex
                .as_deref()
                .ok_or("a raw_csi frame without iq_hex")?
                .as_bytes();
            if hex.len() % 4 != 0 {
                return Err(format!(
                    "iq_hex has {} hex digits: not whole I,Q pairs (4 digits each)",
                    hex.len()
                ));
            }
            let pairs = hex.len() / 4;
            if let Some(Subcarriers::Count(n)) = line.subcarriers {
                if n as usize != pairs {
                    return Err(format!(
                        "iq_hex holds {pairs} I,Q pairs but subcarriers says {n}"
                    ));
                }
            }
            // Every digit is checked, also in frames of a width that is then skipped.
            let mut iq = Vec::with_capacity(2 * pairs);
            for (k, d) in hex.chunks_exact(2).enumerate() {
                match (hex_nibble(d[0]), hex_nibble(d[1])) {
                    (Some(h), Some(l)) => iq.push((h << 4 | l) as i8 as f32),
                    _ => return Err(format!("iq_hex is not hexadecimal at digit {}", 2 * k + 1)),
                }
            }
            if pairs != 64 {
                return Ok(FrameLine::Skipped(Skip::Width {
                    node: line.node_id,
                    width: pairs,
                }));
            }
            let mut amplitudes = [0.0f32; N_SUBCARRIERS];
            for (k, a) in amplitudes.iter_mut().enumerate() {
                let (i, q) = (iq[2 * k], iq[2 * k + 1]);
                *a = (i * i + q * q).sqrt();
            }
            Ok(FrameLine::Frame(Box::new(Frame {
                node: line.node_id,
                ts: ts(&line)?,
                width: pairs,
                amplitudes,
            })))
        }
        (Some(other), _) => Ok(FrameLine::Skipped(Skip::Type(other.to_string()))),
        (None, Some(Subcarriers::List(values))) => {
            if values.len() != N_SUBCARRIERS {
                return Ok(FrameLine::Skipped(Skip::Width {
                    node: line.node_id,
                    width: values.len(),
                }));
            }
            let mut amplitudes = [0.0f32; N_SUBCARRIERS];
            for (k, (a, &v)) in amplitudes.iter_mut().zip(values).enumerate() {
                if !v.is_finite() {
                    return Err(format!("subcarriers[{k}] is not a finite number"));
                }
                *a = v as f32;
            }
            Ok(FrameLine::Frame(Box::new(Frame {
                node: line.node_id,
                ts: ts(&line)?,
                width: N_SUBCARRIERS,
                amplitudes,
            })))
        }
        (None, _) => Ok(FrameLine::Skipped(Skip::Type("untyped".into()))),
    }
}

/// The median of a growing set of non-negative numbers, in O(log n) per number.
#[derive(Clone, Debug, Default)]
struct RunningMedian {
    /// The lower half (a max-heap) and the upper half (a min-heap, negated order), as `f64` bits
    /// (ordered like the numbers, which are non-negative).
    low: BinaryHeap<u64>,
    high: BinaryHeap<std::cmp::Reverse<u64>>,
}

impl RunningMedian {
    fn push(&mut self, x: f64) {
        let b = x.max(0.0).to_bits();
        if self.low.peek().is_none_or(|&top| b <= top) {
            self.low.push(b);
        } else {
            self.high.push(std::cmp::Reverse(b));
        }
        if self.low.len() > self.high.len() + 1 {
            if let Some(top) = self.low.pop() {
                self.high.push(std::cmp::Reverse(top));
            }
        } else if self.high.len() > self.low.len() {
            if let Some(std::cmp::Reverse(top)) = self.high.pop() {
                self.low.push(top);
            }
        }
    }

    fn len(&self) -> usize {
        self.low.len() + self.high.len()
    }

    fn median(&self) -> Option<f64> {
        let lo = f64::from_bits(*self.low.peek()?);
        if self.low.len() > self.high.len() {
            return Some(lo);
        }
        let hi = f64::from_bits(self.high.peek()?.0);
        Some((lo + hi) / 2.0)
    }
}

/// What framing did with one node's frames.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NodeFraming {
    /// The node (`null` in the recorder format).
    pub node: Option<u8>,
    /// Frames of 56 amplitudes taken (after dropping duplicates).
    pub frames: u64,
    /// Frames per second between its first and last frame.
    pub frame_rate: Option<f64>,
    /// The median interval between frames, in seconds.
    pub median_interval: Option<f64>,
    /// Frames seen by width (bins): 56 and 64 are framed, others skipped. Keys are written as strings
    /// (`{"64": 2133}`), which JSON needs and JavaScript objects hold.
    #[serde(serialize_with = "string_keys")]
    pub widths: BTreeMap<usize, u64>,
    /// Frames skipped for their width.
    pub skipped_width: u64,
    /// Frames dropped for repeating the previous frame's timestamp.
    pub duplicates: u64,
    /// Gaps (no window spans one).
    pub gaps: u64,
    /// Windows made.
    pub windows: u64,
    /// Frames in no window: gathered before a gap, or at the end, short of a window.
    pub left_over: u64,
    #[serde(skip)]
    first_ts: Option<f64>,
    #[serde(skip)]
    last_ts: Option<f64>,
}

/// A map with number keys, written with its keys as strings (serde_json does so itself; the page's
/// serializer, like JavaScript, takes only string keys).
pub(crate) fn string_keys<K: std::fmt::Display, S: serde::Serializer>(
    map: &BTreeMap<K, u64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(map.iter().map(|(k, v)| (k.to_string(), v)))
}

/// How a frame file was framed into windows: shown in every report on one.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Framing {
    /// Frames between window starts (20: no overlap; 1: RuView's sliding cog).
    pub hop: usize,
    /// The gap rule's factor ([`GAP_FACTOR`]).
    pub gap_factor: f64,
    /// Per node, in node order.
    pub nodes: Vec<NodeFraming>,
    /// Lines of other types skipped, by type.
    pub skipped_types: BTreeMap<String, u64>,
    /// In words ([`Framing::describe`]), for shells that show it as it is.
    pub description: String,
}

impl Framing {
    /// In words, one line per node.
    pub fn describe(&self) -> String {
        let mut lines = vec![format!(
            "framed per node: {} frames per window, a window every {} frame(s); a gap is an interval over {}× the node's median, and no window spans one",
            N_FRAMES, self.hop, self.gap_factor
        )];
        for n in &self.nodes {
            let node = n
                .node
                .map_or("the recorder's node".to_string(), |k| format!("node {k}"));
            let widths: Vec<String> = n.widths.iter().map(|(w, c)| format!("{c} × {w}")).collect();
            lines.push(format!(
                "{node}: {} frames ({}), {} window(s), {} frame(s) left over, {} gap(s), {} duplicate(s), {} skipped for width{}",
                n.frames,
                widths.join(", "),
                n.windows,
                n.left_over,
                n.gaps,
                n.duplicates,
                n.skipped_width,
                match (n.frame_rate, n.median_interval) {
                    (Some(r), Some(m)) => format!("; {r:.1} frames/s, median interval {:.3} s", m),
                    _ => String::new(),
                }
            ));
        }
        if !self.skipped_types.is_empty() {
            let types: Vec<String> = self
                .skipped_types
                .iter()
                .map(|(t, c)| format!("{c} {t}"))
                .collect();
            lines.push(format!(
                "lines of other types skipped: {}",
                types.join(", ")
            ));
        }
        lines.join("\n")
    }
}

#[derive(Debug, Default)]
struct Node {
    frames: VecDeque<(u64, f64, [f32; N_SUBCARRIERS])>,
    /// How many of `frames` (at the front) are already in a window (with a hop below 20).
    in_window: usize,
    intervals: RunningMedian,
    summary: NodeFraming,
}

/// Frames in, windows out (see the module docs).
#[derive(Debug)]
pub struct Framer {
    hop: usize,
    policy: LayoutPolicy,
    nodes: BTreeMap<Option<u8>, Node>,
    skipped_types: BTreeMap<String, u64>,
}

impl Framer {
    /// A framer making a window every `hop` frames (clamped to 1–20), laid out by `policy`.
    pub fn new(hop: usize, policy: LayoutPolicy) -> Self {
        Framer {
            hop: hop.clamp(1, N_FRAMES),
            policy,
            nodes: BTreeMap::new(),
            skipped_types: BTreeMap::new(),
        }
    }

    /// Take one read line (line number `line`); a window when it completes one.
    pub fn push(&mut self, line: u64, read: FrameLine) -> Option<Record> {
        let frame = match read {
            FrameLine::Frame(f) => *f,
            FrameLine::Skipped(Skip::Type(t)) => {
                // Bounded, whatever a hostile file holds: at most MAX_TYPES names of at most 40 chars.
                let mut t: String = t.chars().take(40).collect();
                if self.skipped_types.len() >= MAX_TYPES && !self.skipped_types.contains_key(&t) {
                    t = "(other types)".into();
                }
                *self.skipped_types.entry(t).or_default() += 1;
                return None;
            }
            FrameLine::Skipped(Skip::Width { node, width }) => {
                let n = self.nodes.entry(node).or_default();
                n.summary.node = node;
                *n.summary.widths.entry(width).or_default() += 1;
                n.summary.skipped_width += 1;
                return None;
            }
        };
        let hop = self.hop;
        let node = self.nodes.entry(frame.node).or_default();
        let s = &mut node.summary;
        s.node = frame.node;
        *s.widths.entry(frame.width).or_default() += 1;
        if let Some(last) = s.last_ts {
            let dt = frame.ts - last;
            if dt == 0.0 {
                s.duplicates += 1;
                return None;
            }
            let gap = dt < 0.0
                || (node.intervals.len() >= MIN_INTERVALS
                    && node.intervals.median().is_some_and(|m| dt > GAP_FACTOR * m));
            if gap {
                s.gaps += 1;
                s.left_over += (node.frames.len() - node.in_window) as u64;
                node.frames.clear();
                node.in_window = 0;
            } else {
                node.intervals.push(dt);
            }
        }
        s.first_ts.get_or_insert(frame.ts);
        s.last_ts = Some(frame.ts);
        s.frames += 1;
        node.frames.push_back((line, frame.ts, frame.amplitudes));
        if node.frames.len() < N_FRAMES {
            return None;
        }
        s.windows += 1;
        let record = window(&node.frames, frame.node, self.policy);
        for _ in 0..hop {
            node.frames.pop_front();
        }
        node.in_window = node.frames.len();
        Some(record)
    }

    /// The framing so far, with the frames not (yet) in a window counted as left over.
    pub fn framing(&self) -> Framing {
        let mut f = Framing {
            hop: self.hop,
            gap_factor: GAP_FACTOR,
            nodes: self
                .nodes
                .values()
                .map(|n| {
                    let mut s = n.summary.clone();
                    // Frames still gathering, but not those already in a window.
                    s.left_over += (n.frames.len() - n.in_window) as u64;
                    s.median_interval = n.intervals.median();
                    s.frame_rate = match (s.first_ts, s.last_ts) {
                        (Some(a), Some(b)) if b > a && s.frames > 1 => {
                            Some((s.frames - 1) as f64 / (b - a))
                        }
                        _ => None,
                    };
                    s
                })
                .collect(),
            skipped_types: self.skipped_types.clone(),
            description: String::new(),
        };
        f.description = f.describe();
        f
    }
}

/// A window of 20 frames (frame-major), in model order or as stored.
fn window(
    frames: &VecDeque<(u64, f64, [f32; N_SUBCARRIERS])>,
    node: Option<u8>,
    policy: LayoutPolicy,
) -> Record {
    let mut values = vec![0.0f32; N_FRAMES * N_SUBCARRIERS];
    let as_stored = policy == LayoutPolicy::AsStored;
    for (f, (_, _, amps)) in frames.iter().take(N_FRAMES).enumerate() {
        for (s, &a) in amps.iter().enumerate() {
            let at = if as_stored {
                f * N_SUBCARRIERS + s
            } else {
                s * N_FRAMES + f
            };
            values[at] = a;
        }
    }
    Record {
        // The line that completed the window: windows come out in line order even when nodes interleave.
        line: frames[N_FRAMES - 1].0,
        window: values,
        truth: None,
        truth_max: None,
        ts_start: Some(frames[0].1),
        ts_end: frames.get(N_FRAMES - 1).map(|f| f.1),
        layout: if as_stored {
            LayoutUsed::AsStored
        } else {
            LayoutUsed::Transposed
        },
        shape_label: Some([N_FRAMES as u32, N_SUBCARRIERS as u32]),
        synthetic: None,
        node,
    }
}

/// A window framed from a CSI frame file, as one line of RuView's paired format: `csi` frame-major
/// (the record must hold it as stored, [`LayoutPolicy::AsStored`]), `csi_shape` `[20,56]`, `ts_start` and
/// `ts_end` as ISO-8601, and no labels.
pub fn paired_line(record: &Record) -> String {
    let csi: Vec<String> = record.window.iter().map(|v| format!("{v}")).collect();
    let time = |t: Option<f64>| {
        t.map_or("null".to_string(), |t| {
            format!("\"{}\"", crate::time::format_iso8601(t))
        })
    };
    format!(
        "{{\"csi\":[{}],\"csi_shape\":[{N_FRAMES},{N_SUBCARRIERS}],\"ts_start\":{},\"ts_end\":{}}}",
        csi.join(","),
        time(record.ts_start),
        time(record.ts_end)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder(ts: f64, v: f32) -> String {
        let amps: Vec<String> = (0..N_SUBCARRIERS)
            .map(|s| format!("{}", v + s as f32))
            .collect();
        format!(
            "{{\"timestamp\":{ts},\"subcarriers\":[{}],\"rssi\":-40}}",
            amps.join(",")
        )
    }

    fn raw(ts: f64, node: u8, pairs: usize) -> String {
        let hex: String = (0..pairs)
            .map(|k| format!("{:02x}{:02x}", (k as i8).wrapping_neg() as u8, 3u8))
            .collect();
        format!("{{\"timestamp\":{ts},\"node_id\":{node},\"type\":\"raw_csi\",\"iq_hex\":\"{hex}\",\"subcarriers\":{pairs}}}")
    }

    fn frame(line: &str) -> Frame {
        match parse_frame(line.as_bytes()).unwrap() {
            FrameLine::Frame(f) => *f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn both_formats_read_and_other_lines_are_skipped_by_kind() {
        assert!(is_frame_line(recorder(1.0, 0.0).as_bytes(), false));
        assert!(is_frame_line(raw(1.0, 1, 64).as_bytes(), false));
        let paired = br#"{"csi":[1],"csi_shape":[20,56],"subcarriers":3}"#;
        assert!(!is_frame_line(paired, true));
        let untyped = br#"{"timestamp":1,"node_id":1,"magic":"0xC5110005"}"#;
        assert!(!is_frame_line(untyped, false) && is_frame_line(untyped, true));
        let f = frame(&recorder(5.5, 2.0));
        assert_eq!(
            (f.node, f.ts, f.width, f.amplitudes[3]),
            (None, 5.5, 56, 5.0)
        );
        // Raw: amplitude √(I² + Q²) of the first 56 signed 8-bit pairs (here I = −k, Q = 3).
        let f = frame(&raw(7.0, 2, 64));
        assert_eq!((f.node, f.width), (Some(2), 64));
        assert_eq!(f.amplitudes[0], 3.0);
        assert_eq!(f.amplitudes[4], 5.0);
        assert!((f.amplitudes[55] - (55f32 * 55.0 + 9.0).sqrt()).abs() < 1e-4);
        for (line, skip) in [
            (
                raw(1.0, 1, 128),
                Skip::Width {
                    node: Some(1),
                    width: 128,
                },
            ),
            (
                r#"{"timestamp":1,"node_id":2,"type":"vitals","n_persons":4}"#.into(),
                Skip::Type("vitals".into()),
            ),
            (
                r#"{"timestamp":1,"node_id":1,"magic":"0xC5110005"}"#.into(),
                Skip::Type("untyped".into()),
            ),
        ] {
            assert_eq!(parse_frame(line.as_bytes()), Ok(FrameLine::Skipped(skip)));
        }
    }

    #[test]
    fn malformed_frames_say_why() {
        for (line, why) in [
            (
                r#"{"type":"raw_csi","timestamp":1,"iq_hex":"0g00"}"#.to_string(),
                "not hexadecimal",
            ),
            (
                r#"{"type":"raw_csi","timestamp":1,"iq_hex":"000"}"#.to_string(),
                "not whole I,Q pairs",
            ),
            (
                raw(1.0, 1, 64).replace("\"subcarriers\":64", "\"subcarriers\":63"),
                "subcarriers says 63",
            ),
            (raw(1.0, 1, 64).replace("\"timestamp\":1,", ""), "timestamp"),
            (
                r#"{"type":"raw_csi","timestamp":1}"#.to_string(),
                "without iq_hex",
            ),
            (recorder(1.0, 0.0).replace("[0,", "[null,"), "invalid JSON"),
            ("{\"subcarriers\":[1,2".to_string(), "invalid JSON"),
        ] {
            let e = parse_frame(line.as_bytes()).unwrap_err();
            assert!(e.contains(why), "{line}: {e}");
        }
    }

    fn run(lines: &[String], hop: usize) -> (Vec<Record>, Framing) {
        let mut framer = Framer::new(hop, LayoutPolicy::Labelled);
        let records = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| framer.push(i as u64 + 1, parse_frame(l.as_bytes()).unwrap()))
            .collect();
        (records, framer.framing())
    }

    #[test]
    fn windows_are_twenty_frames_of_one_node_and_never_span_a_gap() {
        // 45 frames every 0.1 s: 2 windows, 5 left over; with hop 1, 26.
        let lines: Vec<String> = (0..45)
            .map(|i| recorder(100.0 + i as f64 * 0.1, i as f32))
            .collect();
        let (w, f) = run(&lines, 20);
        assert_eq!(
            (w.len(), f.nodes[0].windows, f.nodes[0].left_over),
            (2, 2, 5)
        );
        // The recorder format's one node has no number.
        assert!(w.iter().all(|r| r.node.is_none()));
        assert_eq!(
            (w[0].line, w[1].line),
            (20, 40),
            "numbered by the line that completed them"
        );
        // Model order: subcarrier s of frame f at s * 20 + f; frame f holds f + s.
        assert_eq!(w[0].window[3 * N_FRAMES + 7], 10.0);
        assert_eq!(w[0].ts_start, Some(100.0));
        assert_eq!(run(&lines, 1).0.len(), 26);
        assert_eq!(run(&lines, 1).1.nodes[0].left_over, 0);
        // A gap after frame 30 (3 s): the 10 frames gathered are left over; a duplicate is dropped.
        let mut gappy = lines.clone();
        for (i, l) in gappy.iter_mut().enumerate().skip(30) {
            *l = recorder(100.0 + i as f64 * 0.1 + 3.0, i as f32);
        }
        gappy.insert(10, lines[9].clone());
        let (w, f) = run(&gappy, 20);
        let n = &f.nodes[0];
        assert_eq!(
            (w.len(), n.gaps, n.duplicates, n.left_over, n.frames),
            (1, 1, 1, 25, 45)
        );
        // Fewer frames than a window: none, and all left over.
        let (w, f) = run(&lines[..12], 20);
        assert_eq!((w.len(), f.nodes[0].left_over), (0, 12));
        // As stored: frame-major, as RuView's cog feeds it.
        let mut framer = Framer::new(20, LayoutPolicy::AsStored);
        let w = lines[..20]
            .iter()
            .enumerate()
            .filter_map(|(i, l)| framer.push(i as u64 + 1, parse_frame(l.as_bytes()).unwrap()))
            .next()
            .unwrap();
        assert_eq!(w.window[7 * N_SUBCARRIERS + 3], 10.0);
        assert_eq!(w.layout, LayoutUsed::AsStored);
    }

    /// RuView's paired-recording script groups consecutive frames of all nodes into one window; per-node
    /// framing never mixes links.
    #[test]
    fn interleaved_nodes_make_windows_of_one_node_each() {
        let lines: Vec<String> = (0..80)
            .map(|i| raw(10.0 + (i / 2) as f64 * 0.05, 1 + (i % 2) as u8, 64))
            .collect();
        let mut framer = Framer::new(20, LayoutPolicy::Labelled);
        let mut node_of_line = std::collections::HashMap::new();
        let mut windows = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let f = frame(l);
            node_of_line.insert(i as u64 + 1, f.node);
            windows.extend(framer.push(i as u64 + 1, FrameLine::Frame(Box::new(f))));
        }
        assert_eq!(windows.len(), 4);
        let framing = framer.framing();
        assert_eq!(
            framing.nodes.iter().map(|n| n.windows).collect::<Vec<_>>(),
            [2, 2]
        );
        // Consecutive lines alternate nodes: RuView's grouping would put both in every window. Each of
        // ours ends on a line of one node and spans 39 lines (20 frames of that node, every other line).
        for w in &windows {
            let ts_span = w.ts_end.unwrap() - w.ts_start.unwrap();
            assert!((ts_span - 19.0 * 0.05).abs() < 1e-9, "{ts_span}");
        }
        let nodes: Vec<Option<u8>> = windows.iter().map(|w| node_of_line[&w.line]).collect();
        assert_eq!(nodes, [Some(1), Some(2), Some(1), Some(2)]);
        // Each window carries its node (the series' `node` column, the page's per-node lanes).
        assert_eq!(windows.iter().map(|w| w.node).collect::<Vec<_>>(), nodes);
    }

    #[test]
    fn the_running_median_is_the_median() {
        let mut m = RunningMedian::default();
        let mut seen = Vec::new();
        for x in [0.3, 0.1, 0.2, 0.0, 5.0, 0.1, 0.1, 2.0] {
            m.push(x);
            seen.push(x);
            let mut s = seen.clone();
            s.sort_by(f64::total_cmp);
            let k = s.len();
            let want = if k % 2 == 1 {
                s[k / 2]
            } else {
                (s[k / 2 - 1] + s[k / 2]) / 2.0
            };
            assert_eq!(m.median(), Some(want));
        }
    }
}
