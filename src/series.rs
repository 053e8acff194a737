//! The replay as columns: one array per field of [`FramePrediction`], the form plots and typed arrays want.
//!
//! A 24-hour recording is ≈ 100 k windows; as `Vec<FramePrediction>` that is ≈ 10 MB of small structs, as
//! columns it is the same bytes but each plot reads only the arrays it draws, and the page moves the
//! arrays between its worker and its main thread without copying (transferable typed arrays).
//!
//! **The columns are spelled once**, in the `columns!` table below: each entry names a field, its
//! element type, its JavaScript key, its CSV cells and how it is read from and written to a
//! [`FramePrediction`]. From that one table come the [`Series`] struct, [`Series::push`],
//! [`Series::prediction`], the length checks, the per-frame CSV (the CLI's `--format csv` and the page's
//! export) and, in the browser build, the one JavaScript transfer encoding (`Series::to_js` /
//! `Series::from_js`: an object of typed arrays whose buffers are transferred). A new column is one
//! new entry.

use crate::replay::FramePrediction;
use crate::{time, N_CLASSES};

/// `truth` value of an unlabelled window in [`Series::truth`] (typed arrays have no `null`).
pub const NO_TRUTH: u8 = u8::MAX;

/// `node` value of a window no node is named for in [`Series::node`] (a paired line, the recorder
/// format's one node): outside `node_id`'s 0–255, so every real node keeps its number.
pub const NO_NODE: u16 = u16::MAX;

/// How many values a column holds per window.
macro_rules! per_window {
    (one) => {
        1
    };
    (classes) => {
        N_CLASSES
    };
}

/// One window's cell of a column: a value, or one value per class.
macro_rules! cell {
    (one, $t:ty) => {
        $t
    };
    (classes, $t:ty) => {
        [$t; N_CLASSES]
    };
}

macro_rules! push_cell {
    (one, $vec:expr, $v:expr) => {
        $vec.push($v)
    };
    (classes, $vec:expr, $v:expr) => {
        $vec.extend_from_slice(&$v)
    };
}

macro_rules! read_cell {
    (one, $vec:expr, $i:expr) => {
        $vec[$i]
    };
    (classes, $vec:expr, $i:expr) => {{
        let mut a = [Default::default(); N_CLASSES];
        a.copy_from_slice(&$vec[$i * N_CLASSES..($i + 1) * N_CLASSES]);
        a
    }};
}

/// The CSV header cells of a column: its name, or the name with the class appended (`p0` … `p7`).
macro_rules! csv_header {
    (one, $csv:expr) => {
        vec![$csv.to_string()]
    };
    (classes, $csv:expr) => {
        (0..N_CLASSES)
            .map(|c| format!("{}{c}", $csv))
            .collect::<Vec<_>>()
    };
}

/// The column table: `field: kind type as TypedArray, js "key", csv "name", get |prediction| cell,
/// set |prediction, cell| statement, cells |prediction| csv-text;` (see the module docs).
macro_rules! columns {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $kind:ident $ty:ty as $array:ident, js $js:literal, csv $csv:literal,
            get |$g:ident| $get:expr,
            set |$s:ident, $v:ident| $set:expr,
            cells |$c:ident| $cells:expr;
    )+) => {
        /// Per-window predictions, column by column, in recording order (see the module docs: the
        /// fields come from the one column table).
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct Series {
            $( $(#[doc = $doc])+ pub $field: Vec<$ty>, )+
        }

        impl Series {
            /// Append one prediction.
            pub fn push(&mut self, f: &FramePrediction) {
                $( {
                    let $g = f;
                    let cell: cell!($kind, $ty) = $get;
                    push_cell!($kind, self.$field, cell);
                } )+
            }

            /// The prediction of window `i` as the struct the rest of the core uses.
            pub fn prediction(&self, i: usize) -> Option<FramePrediction> {
                if i >= self.len() {
                    return None;
                }
                let mut f = FramePrediction::default();
                $( {
                    let $v: cell!($kind, $ty) = read_cell!($kind, self.$field, i);
                    let $s = &mut f;
                    $set;
                } )+
                f.correct = f.truth.map(|t| t == f.count);
                Some(f)
            }

            /// Check that every column holds the values of the same number of windows.
            fn check_lengths(&self) -> Result<(), ColumnsError> {
                let windows = self.line.len();
                $(
                    let want = windows * per_window!($kind);
                    if self.$field.len() != want {
                        return Err(ColumnsError::Length {
                            column: $js,
                            windows,
                            want,
                            got: self.$field.len(),
                        });
                    }
                )+
                Ok(())
            }

            /// The header of per-frame CSV.
            pub fn csv_header() -> String {
                let mut cells: Vec<String> = Vec::new();
                $( cells.extend(csv_header!($kind, $csv)); )+
                cells.join(",")
            }

            /// One prediction as a CSV row under [`Series::csv_header`] (empty cells for what the
            /// recording does not say).
            pub fn csv_row(f: &FramePrediction) -> String {
                let cells: Vec<String> = vec![$( { let $c = f; $cells } ),+];
                cells.join(",")
            }
        }

        /// The columns' TypeScript declaration, emitted into wasm-bindgen's `pkg/countscope.d.ts` from this
        /// table, so an embedder's editor knows `el.columns` without a second list.
        #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
        #[wasm_bindgen::prelude::wasm_bindgen(typescript_custom_section)]
        const COLUMNS_TS: &'static str = concat!(
            "/** A replay's columns as the worker transfers them, one typed array per column (src/series.rs). */\n",
            "export interface Columns {\n",
            $( "  /**", $($doc,)+ " */\n  ", $js, ": ", stringify!($array), ";\n", )+
            "}\n"
        );

        #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
        impl Series {
            /// The columns as one JavaScript object of typed arrays (keys as in the table), with the list of
            /// their buffers to transfer: `postMessage(columns, transfer)` moves them without a copy.
            pub fn to_js(&self) -> (js_sys::Object, js_sys::Array) {
                let object = js_sys::Object::new();
                let transfer = js_sys::Array::new();
                $( {
                    let array = js_sys::$array::from(&self.$field[..]);
                    transfer.push(&array.buffer());
                    // Setting a plain data property on a fresh object cannot fail.
                    let _ = js_sys::Reflect::set(&object, &$js.into(), &array);
                } )+
                (object, transfer)
            }

            /// Columns back from the object [`Series::to_js`] made (after a `postMessage`), checked: every
            /// key present as its typed array, equal lengths, counts and truths in range.
            pub fn from_js(value: &wasm_bindgen::JsValue) -> Result<Series, ColumnsError> {
                let series = Series {
                    $( $field: wasm_bindgen::JsCast::dyn_ref::<js_sys::$array>(&js::field(value, $js))
                        .map(|a| a.to_vec())
                        .ok_or(ColumnsError::Missing {
                            column: $js,
                            array: stringify!($array),
                        })?, )+
                };
                series.validated()
            }
        }
    };
}

columns! {
    /// 1-based recording line of each window.
    line: one u32 as Uint32Array, js "line", csv "line",
        get |f| f.line.min(u32::MAX as u64) as u32,
        set |f, v| f.line = u64::from(v),
        cells |f| f.line.to_string();
    /// Window start, seconds since the epoch; NaN when the recording does not say.
    ts_start: one f64 as Float64Array, js "tsStart", csv "ts_start",
        get |f| f.ts_start.unwrap_or(f64::NAN),
        set |f, v| f.ts_start = (!v.is_nan()).then_some(v),
        cells |f| f.ts_start.map(time::format_iso8601).unwrap_or_default();
    /// Window end, seconds since the epoch; NaN when the recording does not say.
    ts_end: one f64 as Float64Array, js "tsEnd", csv "ts_end",
        get |f| f.ts_end.unwrap_or(f64::NAN),
        set |f, v| f.ts_end = (!v.is_nan()).then_some(v),
        cells |f| f.ts_end.map(time::format_iso8601).unwrap_or_default();
    /// Ground truth, [`NO_TRUTH`] when unlabelled.
    truth: one u8 as Uint8Array, js "truth", csv "truth",
        get |f| f.truth.unwrap_or(NO_TRUTH),
        set |f, v| f.truth = (v != NO_TRUTH).then_some(v),
        cells |f| f.truth.map(|t| t.to_string()).unwrap_or_default();
    /// Predicted count (its CSV cells carry the verdict too: `count,correct`).
    count: one u8 as Uint8Array, js "count", csv "count,correct",
        get |f| f.count,
        set |f, v| f.count = v,
        cells |f| format!("{},{}", f.count, f.correct.map(|c| c.to_string()).unwrap_or_default());
    /// Calibrated confidence.
    confidence: one f32 as Float32Array, js "confidence", csv "confidence",
        get |f| f.confidence,
        set |f, v| f.confidence = v,
        cells |f| f.confidence.to_string();
    /// Lower end of the 95 % interval.
    p95_low: one u8 as Uint8Array, js "p95Low", csv "count_p95_low",
        get |f| f.count_p95_low,
        set |f, v| f.count_p95_low = v,
        cells |f| f.count_p95_low.to_string();
    /// Upper end of the 95 % interval.
    p95_high: one u8 as Uint8Array, js "p95High", csv "count_p95_high",
        get |f| f.count_p95_high,
        set |f, v| f.count_p95_high = v,
        cells |f| f.count_p95_high.to_string();
    /// Class probabilities, [`N_CLASSES`] per window.
    probs: classes f32 as Float32Array, js "probs", csv "p",
        get |f| f.probs,
        set |f, v| f.probs = v,
        cells |f| f.probs.map(|v| v.to_string()).join(",");
    /// Raw confidence logit.
    conf_logit: one f32 as Float32Array, js "confLogit", csv "conf_logit",
        get |f| f.conf_logit,
        set |f, v| f.conf_logit = v,
        cells |f| f.conf_logit.to_string();
    /// Raw count logits, [`N_CLASSES`] per window.
    count_logits: classes f32 as Float32Array, js "countLogits", csv "logit",
        get |f| f.count_logits,
        set |f, v| f.count_logits = v,
        cells |f| f.count_logits.map(|v| v.to_string()).join(",");
    /// RuView's `n_persons_max`, [`NO_TRUTH`] when the recording does not say.
    truth_max: one u8 as Uint8Array, js "truthMax", csv "truth_max",
        get |f| f.truth_max.unwrap_or(NO_TRUTH),
        set |f, v| f.truth_max = (v != NO_TRUTH).then_some(v),
        cells |f| f.truth_max.map(|t| t.to_string()).unwrap_or_default();
    /// The ESP32 node whose frames made the window, [`NO_NODE`] when the recording names none.
    node: one u16 as Uint16Array, js "node", csv "node",
        get |f| f.node.map_or(NO_NODE, u16::from),
        set |f, v| f.node = u8::try_from(v).ok(),
        cells |f| f.node.map(|n| n.to_string()).unwrap_or_default();
}

/// Why columns handed in from outside (JavaScript) cannot form a series.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ColumnsError {
    /// A column holds the values of a different number of windows than `line`.
    #[error(
        "series columns disagree: {windows} windows need {want} values in `{column}`, got {got}"
    )]
    Length {
        column: &'static str,
        windows: usize,
        want: usize,
        got: usize,
    },
    /// A column is absent or not the typed array it must be.
    #[error("series columns: `{column}` is missing or not a {array}")]
    Missing {
        column: &'static str,
        array: &'static str,
    },
    /// A count (or an end of its interval) is not a class.
    #[error("series columns: a count of {0} is outside 0–7")]
    Count(u8),
    /// A truth is neither a class nor [`NO_TRUTH`].
    #[error("series columns: a truth of {0} is outside 0–7 (255 means unlabelled)")]
    Truth(u8),
    /// A node is neither a `node_id` (0–255) nor [`NO_NODE`].
    #[error("series columns: a node of {0} is outside 0–255 (65535 means none named)")]
    Node(u16),
}

impl Series {
    /// Columns of a replay's predictions.
    pub fn from_predictions(p: &[FramePrediction]) -> Self {
        let mut s = Series::default();
        p.iter().for_each(|f| s.push(f));
        s
    }

    /// These columns, checked as columns from outside must be: equal lengths, counts and truths in range.
    pub fn validated(self) -> Result<Self, ColumnsError> {
        self.check_lengths()?;
        if let Some(&c) = self
            .count
            .iter()
            .chain(&self.p95_low)
            .chain(&self.p95_high)
            .find(|&&c| c as usize >= N_CLASSES)
        {
            return Err(ColumnsError::Count(c));
        }
        if let Some(&t) = self
            .truth
            .iter()
            .find(|&&t| t as usize >= N_CLASSES && t != NO_TRUTH)
        {
            return Err(ColumnsError::Truth(t));
        }
        if let Some(&n) = self.node.iter().find(|&&n| n > 255 && n != NO_NODE) {
            return Err(ColumnsError::Node(n));
        }
        Ok(self)
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.line.len()
    }

    /// Whether there are no windows.
    pub fn is_empty(&self) -> bool {
        self.line.is_empty()
    }

    /// Ground truth of window `i`, `None` when unlabelled.
    pub fn truth_at(&self, i: usize) -> Option<u8> {
        self.truth.get(i).copied().filter(|&t| t != NO_TRUTH)
    }

    /// Whether window `i` is labelled and predicted wrong.
    pub fn is_wrong(&self, i: usize) -> bool {
        self.truth_at(i).is_some_and(|t| t != self.count[i])
    }

    /// Class probabilities of window `i`.
    pub fn probs_at(&self, i: usize) -> &[f32] {
        &self.probs[i * N_CLASSES..(i + 1) * N_CLASSES]
    }

    /// Each window as scored, in order: what [`crate::report::Metrics::of`] reads, without building a
    /// [`FramePrediction`] (128 bytes) per window, which wasm's memory would keep as its peak.
    pub fn scored(&self) -> impl Iterator<Item = crate::evaluate::WindowScore> + '_ {
        (0..self.len()).map(|i| crate::evaluate::WindowScore {
            line: u64::from(self.line[i]),
            truth: self.truth_at(i),
            count: self.count[i],
            confidence: self.confidence[i],
        })
    }

    /// All predictions (for the report of a series rebuilt from columns).
    pub fn predictions(&self) -> Vec<FramePrediction> {
        // Sized once: `filter_map` cannot tell `collect` its length, which would grow the vector by
        // doubling (and wasm memory keeps the peak of old and new buffers side by side).
        let mut out = Vec::with_capacity(self.len());
        out.extend((0..self.len()).filter_map(|i| self.prediction(i)));
        out
    }

    /// The next wrong window after `from` (exclusive), if any.
    pub fn next_wrong(&self, from: usize) -> Option<usize> {
        (from.saturating_add(1)..self.len()).find(|&i| self.is_wrong(i))
    }

    /// The previous wrong window before `from` (exclusive), if any.
    pub fn prev_wrong(&self, from: usize) -> Option<usize> {
        (0..from.min(self.len())).rev().find(|&i| self.is_wrong(i))
    }

    /// Seconds from the first window's start to window `i`'s start, when both are known.
    pub fn elapsed(&self, i: usize) -> Option<f64> {
        let t0 = *self.ts_start.first()?;
        let t = *self.ts_start.get(i)?;
        (!t0.is_nan() && !t.is_nan()).then_some(t - t0)
    }

    /// Per-frame CSV, the same as `countscope replay --format csv`.
    pub fn to_csv(&self) -> String {
        let mut out = String::with_capacity(self.len() * 120);
        out.push_str(&Series::csv_header());
        out.push('\n');
        for p in self.predictions() {
            out.push_str(&Series::csv_row(&p));
            out.push('\n');
        }
        out
    }
}

/// Reading and writing the transfer encoding's object (browser build).
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod js {
    use wasm_bindgen::JsValue;

    /// `object[key]`, `undefined` when absent or not an object.
    pub fn field(object: &JsValue, key: &str) -> JsValue {
        if !object.is_object() {
            return JsValue::UNDEFINED;
        }
        js_sys::Reflect::get(object, &key.into()).unwrap_or(JsValue::UNDEFINED)
    }
}

/// One pixel column of a downsampled series: what the frames falling into it span.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Column {
    /// First window in the column.
    pub first: usize,
    /// One past the last window.
    pub end: usize,
    /// Smallest value in the column.
    pub min: f32,
    /// Largest value in the column.
    pub max: f32,
}

/// Downsample the windows in `range` to at most `width` columns, each keeping its minimum and maximum, so
/// a line drawn through them shows every spike however long the series (min/max decimation). `min_max`
/// answers for a range of absolute window indices, `None` when it holds no value; a [`Pyramid`] answers in
/// O(log n), so a redraw costs O(width · log n) however many windows are in view. Columns carry absolute
/// indices; a column without a value is left out.
pub fn min_max_columns(
    range: std::ops::Range<usize>,
    width: usize,
    min_max: impl Fn(std::ops::Range<usize>) -> Option<(f32, f32)>,
) -> Vec<Column> {
    let n = range.len();
    if n == 0 || width == 0 {
        return Vec::new();
    }
    let cols = width.min(n);
    let mut out = Vec::with_capacity(cols);
    for c in 0..cols {
        let first = range.start + c * n / cols;
        let end = (range.start + (c + 1) * n / cols).max(first + 1);
        if let Some((min, max)) = min_max(first..end) {
            out.push(Column {
                first,
                end,
                min,
                max,
            });
        }
    }
    out
}

/// Adjacent columns with the same extremes joined into one: what is drawn is the same shape, in as many
/// canvas calls as the value has runs rather than one per pixel (a flat stretch of a count is one
/// rectangle, however wide).
pub fn merge_runs(cols: Vec<Column>) -> Vec<Column> {
    let mut out: Vec<Column> = Vec::with_capacity(cols.len());
    for c in cols {
        match out.last_mut() {
            Some(last) if last.end == c.first && last.min == c.min && last.max == c.max => {
                last.end = c.end
            }
            _ => out.push(c),
        }
    }
    out
}

/// Minimum and maximum of a per-window value over any range of windows in O(log n): level `k` holds the
/// extremes of each aligned block of 2^k windows (the last block clipped), built once per replay in O(n)
/// and ≈ 2n pairs. NaN values count as absent.
#[derive(Clone, Debug, Default)]
pub struct Pyramid {
    levels: Vec<Vec<(f32, f32)>>,
}

const EMPTY: (f32, f32) = (f32::INFINITY, f32::NEG_INFINITY);

fn join(a: (f32, f32), b: (f32, f32)) -> (f32, f32) {
    (a.0.min(b.0), a.1.max(b.1))
}

impl Pyramid {
    /// The pyramid of `value(0..n)`.
    pub fn new(n: usize, value: impl Fn(usize) -> f32) -> Self {
        let base: Vec<(f32, f32)> = (0..n)
            .map(|i| {
                let v = value(i);
                if v.is_nan() {
                    EMPTY
                } else {
                    (v, v)
                }
            })
            .collect();
        let mut levels = vec![base];
        while levels[levels.len() - 1].len() > 1 {
            let below = &levels[levels.len() - 1];
            let up = below
                .chunks(2)
                .map(|p| p.iter().copied().fold(EMPTY, join))
                .collect();
            levels.push(up);
        }
        Pyramid { levels }
    }

    /// The extremes over `range` (clipped to the windows), `None` when it holds no value.
    pub fn min_max(&self, range: std::ops::Range<usize>) -> Option<(f32, f32)> {
        let n = self.levels.first().map_or(0, Vec::len);
        let (mut a, mut b) = (range.start.min(n), range.end.min(n));
        let mut acc = EMPTY;
        for level in &self.levels {
            if a >= b {
                break;
            }
            if a & 1 == 1 {
                acc = join(acc, level[a]);
                a += 1;
            }
            if b & 1 == 1 {
                b -= 1;
                acc = join(acc, level[b]);
            }
            a >>= 1;
            b >>= 1;
        }
        (acc.0 <= acc.1).then_some(acc)
    }
}

/// What the time plots read, built once per replay ([`Envelopes::new`]), so a redraw at any zoom reads
/// O(width · log n) values instead of every window in view.
#[derive(Clone, Debug, Default)]
pub struct Envelopes {
    /// The predicted count.
    pub count: Pyramid,
    /// The truth (absent where unlabelled).
    pub truth: Pyramid,
    /// The 95 % interval's lower ends.
    pub p95_low: Pyramid,
    /// Its upper ends.
    pub p95_high: Pyramid,
    /// The confidence of unlabelled, right and wrong windows, each absent elsewhere.
    pub confidence: [Pyramid; 3],
    /// One lane per named node, in node order, when the windows come from two nodes or more (a raw ESP32
    /// frame file): the per-node plot. Empty otherwise: with one node that plot would be the timeline.
    pub nodes: Vec<NodeLane>,
    /// Named nodes beyond [`MAX_NODE_LANES`], left out of `nodes` (the plot says how many).
    pub nodes_left_out: usize,
    /// `wrong_before[i]`: wrong windows among `0..i`.
    wrong_before: Vec<u32>,
}

/// At most this many nodes get a lane in the per-node plot (the ones with most windows, shown in node
/// order): a RuView mesh has a handful of ESP32 nodes, and a lane must stay tall enough to read.
pub const MAX_NODE_LANES: usize = 8;

/// One node's windows over time, for the per-node plot. Its predicted count is held from each of its
/// windows up to its next one, so a lane reads as a line even where the nodes' windows interleave; it
/// breaks where more time passed between a window's end and the node's next window's start than the
/// window itself lasted (a gap in the node's frames, frames skipped for width) and after its last window.
/// With no times in the recording the count is held throughout.
#[derive(Clone, Debug, Default)]
pub struct NodeLane {
    /// The node's `node_id`.
    pub node: u8,
    /// Its windows.
    pub windows: usize,
    /// Its predicted counts, held as above, absent where it broke off and before its first window.
    pub count: Pyramid,
}

/// Whether a node's count is held from its window `i` to its next window `j` (see [`NodeLane`]).
fn held(s: &Series, i: usize, j: usize) -> bool {
    let (start, end, next) = (s.ts_start[i], s.ts_end[i], s.ts_start[j]);
    if start.is_nan() || end.is_nan() || next.is_nan() {
        return true;
    }
    next - end <= end - start
}

impl NodeLane {
    /// The lanes of `s`: empty unless two or more nodes are named; at most [`MAX_NODE_LANES`], the nodes
    /// with most windows, in node order; and how many named nodes were left out.
    pub fn of(s: &Series) -> (Vec<NodeLane>, usize) {
        let mut windows = [0usize; 256];
        for &n in &s.node {
            if let Ok(n) = u8::try_from(n) {
                windows[n as usize] += 1;
            }
        }
        let mut named: Vec<u8> = (0..=255u8).filter(|&n| windows[n as usize] > 0).collect();
        if named.len() < 2 {
            return (Vec::new(), 0);
        }
        // Most windows first (ties: the lower node), keep the first MAX_NODE_LANES, then node order.
        named.sort_by_key(|&n| (std::cmp::Reverse(windows[n as usize]), n));
        let left_out = named.len().saturating_sub(MAX_NODE_LANES);
        named.truncate(MAX_NODE_LANES);
        named.sort_unstable();
        let lanes = named
            .into_iter()
            .map(|node| {
                let mut value = vec![f32::NAN; s.len()];
                let mut last: Option<usize> = None;
                for j in (0..s.len()).filter(|&j| s.node[j] == u16::from(node)) {
                    if let Some(i) = last.filter(|&i| held(s, i, j)) {
                        value[i + 1..j].fill(f32::from(s.count[i]));
                    }
                    value[j] = f32::from(s.count[j]);
                    last = Some(j);
                }
                NodeLane {
                    node,
                    windows: windows[node as usize],
                    count: Pyramid::new(s.len(), |i| value[i]),
                }
            })
            .collect();
        (lanes, left_out)
    }
}

impl Envelopes {
    /// The envelopes of `s`.
    pub fn new(s: &Series) -> Self {
        let n = s.len();
        let conf = |keep: Option<bool>| {
            Pyramid::new(n, |i| {
                let wrong = s.truth_at(i).map(|t| t != s.count[i]);
                if wrong == keep {
                    s.confidence[i]
                } else {
                    f32::NAN
                }
            })
        };
        let mut wrong_before = Vec::with_capacity(n + 1);
        wrong_before.push(0);
        for i in 0..n {
            wrong_before.push(wrong_before[i] + s.is_wrong(i) as u32);
        }
        let (nodes, nodes_left_out) = NodeLane::of(s);
        Envelopes {
            nodes,
            nodes_left_out,
            count: Pyramid::new(n, |i| s.count[i] as f32),
            truth: Pyramid::new(n, |i| s.truth_at(i).map_or(f32::NAN, f32::from)),
            p95_low: Pyramid::new(n, |i| s.p95_low[i] as f32),
            p95_high: Pyramid::new(n, |i| s.p95_high[i] as f32),
            confidence: [conf(None), conf(Some(false)), conf(Some(true))],
            wrong_before,
        }
    }

    /// Wrong windows in `range` (clipped), in O(1).
    pub fn wrong_in(&self, range: std::ops::Range<usize>) -> u32 {
        let n = self.wrong_before.len().saturating_sub(1);
        let (a, b) = (range.start.min(n), range.end.min(n));
        if a >= b {
            return 0;
        }
        self.wrong_before[b] - self.wrong_before[a]
    }
}

/// Why two models' columns cannot be shown side by side.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PairError {
    /// The replays hold different windows.
    #[error("the two models' replays differ: {a} and {b} windows, first different at window {at}; both must replay the same recording the same way")]
    Misaligned {
        /// Model A's windows.
        a: usize,
        /// Model B's.
        b: usize,
        /// The first window (0-based) whose line or truth differs.
        at: usize,
    },
}

/// A second model's replay of the same windows, for the plots: its counts and confidence, where the two
/// disagree, and how far model A leads model B in right windows.
pub struct Pair {
    /// Model B's columns.
    pub b: Series,
    /// B's predicted count.
    pub count: Pyramid,
    /// B's confidence.
    pub confidence: Pyramid,
    /// Right windows of A minus right windows of B among `0..=i` (the difference panel), and its range.
    pub lead: Pyramid,
    /// `disagree_before[i]`: windows among `0..i` whose counts differ.
    disagree_before: Vec<u32>,
}

impl Pair {
    /// Pair model A's columns with model B's (the same windows: same lines, same truth).
    pub fn new(a: &Series, b: Series) -> Result<Self, PairError> {
        let n = a.len();
        let at = (0..n.min(b.len()))
            .find(|&i| a.line[i] != b.line[i] || a.truth_at(i) != b.truth_at(i))
            .or((n != b.len()).then_some(n.min(b.len())));
        if let Some(at) = at {
            return Err(PairError::Misaligned {
                a: n,
                b: b.len(),
                at,
            });
        }
        let mut disagree_before = Vec::with_capacity(n + 1);
        disagree_before.push(0);
        let mut lead = Vec::with_capacity(n);
        let mut ahead = 0i64;
        for i in 0..n {
            disagree_before.push(disagree_before[i] + (a.count[i] != b.count[i]) as u32);
            if let Some(t) = a.truth_at(i) {
                ahead += (a.count[i] == t) as i64 - (b.count[i] == t) as i64;
            }
            lead.push(ahead as f32);
        }
        Ok(Pair {
            count: Pyramid::new(n, |i| b.count[i] as f32),
            confidence: Pyramid::new(n, |i| b.confidence[i]),
            lead: Pyramid::new(n, |i| lead[i]),
            disagree_before,
            b,
        })
    }

    /// Windows in `range` (clipped) whose counts differ, in O(1).
    pub fn disagree_in(&self, range: std::ops::Range<usize>) -> u32 {
        let n = self.disagree_before.len().saturating_sub(1);
        let (a, b) = (range.start.min(n), range.end.min(n));
        if a >= b {
            return 0;
        }
        self.disagree_before[b] - self.disagree_before[a]
    }

    fn disagrees(&self, i: usize) -> bool {
        self.disagree_in(i..i + 1) > 0
    }

    /// The next window after `from` (exclusive) where the counts differ.
    pub fn next_disagreement(&self, from: usize) -> Option<usize> {
        let n = self.disagree_before.len().saturating_sub(1);
        (from.saturating_add(1)..n).find(|&i| self.disagrees(i))
    }

    /// The previous window before `from` (exclusive) where the counts differ.
    pub fn prev_disagreement(&self, from: usize) -> Option<usize> {
        let n = self.disagree_before.len().saturating_sub(1);
        (0..from.min(n)).rev().find(|&i| self.disagrees(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(line: u64, truth: Option<u8>, count: u8) -> FramePrediction {
        let mut probs = [0.0; N_CLASSES];
        probs[count as usize] = 1.0;
        FramePrediction {
            line,
            ts_start: Some(1000.0 + line as f64),
            ts_end: None,
            truth,
            count,
            correct: truth.map(|t| t == count),
            confidence: 0.5,
            count_p95_low: count,
            count_p95_high: count,
            probs,
            count_logits: probs,
            conf_logit: 0.0,
            ..FramePrediction::default()
        }
    }

    #[test]
    fn columns_round_trip_every_field() {
        let mut p = vec![pred(1, Some(2), 2), pred(3, None, 5), pred(4, Some(0), 1)];
        // Node 255 is a node like any other; only NO_NODE (outside u8) means none named.
        (p[1].node, p[2].node) = (Some(0), Some(255));
        let s = Series::from_predictions(&p);
        assert_eq!(s.node, [NO_NODE, 0, 255]);
        assert_eq!(s.predictions(), p);
        let s2 = s.clone().validated().unwrap();
        assert_eq!(s2.predictions(), p); // (NaN ≠ NaN, so the columns are compared through the structs)
        assert_eq!(s.next_wrong(0), Some(2));
        assert_eq!(s.prev_wrong(2), None);
        assert_eq!(s.elapsed(2), Some(3.0));
    }

    #[test]
    fn csv_is_the_table_in_order() {
        assert_eq!(
            Series::csv_header(),
            "line,ts_start,ts_end,truth,count,correct,confidence,count_p95_low,count_p95_high,\
p0,p1,p2,p3,p4,p5,p6,p7,conf_logit,logit0,logit1,logit2,logit3,logit4,logit5,logit6,logit7,truth_max,node"
        );
        let row = Series::csv_row(&pred(3, None, 5));
        assert_eq!(
            row.split(',').count(),
            Series::csv_header().split(',').count()
        );
        assert!(
            row.starts_with("3,1970-01-01T00:16:43.000Z,,,5,,0.5,5,5,0,0,0,0,0,1,0,0,0,"),
            "{row}"
        );
    }

    #[test]
    fn mismatched_columns_are_refused_with_the_column_named() {
        let good = Series::from_predictions(&[pred(1, Some(1), 1), pred(2, Some(2), 2)]);
        let mut s = good.clone();
        s.probs.pop();
        let e = s.validated().unwrap_err();
        assert!(e.to_string().contains("`probs`"), "{e}");
        let mut s = good.clone();
        s.count[1] = 9;
        let e = s.validated().unwrap_err();
        assert!(e.to_string().contains("count of 9"), "{e}");
        let mut s = good.clone();
        s.truth[0] = 9;
        let e = s.validated().unwrap_err();
        assert!(e.to_string().contains("truth of 9"), "{e}");
        let mut s = good.clone();
        s.node[0] = 256;
        let e = s.validated().unwrap_err();
        assert!(e.to_string().contains("node of 256"), "{e}");
        let mut s = good;
        s.truth[0] = NO_TRUTH;
        assert!(s.validated().is_ok());
    }

    #[test]
    fn node_lanes_hold_each_nodes_own_windows() {
        // Two nodes interleaved (as a raw ESP32 file's windows come out in line order), one unnamed window.
        let mut p: Vec<FramePrediction> =
            (0..7).map(|i| pred(i + 1, None, (i % 3) as u8)).collect();
        for (f, node) in p.iter_mut().zip([1, 2, 1, 1, 2, 9, 0]) {
            f.node = (node != 0).then_some(node);
        }
        let s = Series::from_predictions(&p);
        let (lanes, left_out) = NodeLane::of(&s);
        assert_eq!(left_out, 0);
        assert_eq!(
            lanes
                .iter()
                .map(|l| (l.node, l.windows))
                .collect::<Vec<_>>(),
            [(1, 3), (2, 2), (9, 1)]
        );
        // Node 1's windows are 0, 2, 3 (counts 0, 2, 0), each held to the next (no end times: no break);
        // node 2's are 1 and 4 (counts 1, 1), absent before its first and after its last.
        assert_eq!(lanes[0].count.min_max(1..2), Some((0.0, 0.0)));
        assert_eq!(lanes[0].count.min_max(0..4), Some((0.0, 2.0)));
        assert_eq!(
            lanes[1].count.min_max(0..1),
            None,
            "before node 2's first window"
        );
        assert_eq!(lanes[1].count.min_max(0..7), Some((1.0, 1.0)));
        assert_eq!(
            lanes[1].count.min_max(5..7),
            None,
            "after node 2's last window"
        );
        // With times: a node's count is held over the next window's start only when less time passed
        // than its window lasted. Node 1: [0, 2] s, [2.1, 4.1] s, then [10, 12] s (a gap); node 2 between.
        let timed: Vec<FramePrediction> =
            [(0.0, 1), (1.0, 2), (2.1, 1), (3.0, 2), (10.0, 1), (11.0, 2)]
                .into_iter()
                .enumerate()
                .map(|(i, (t, node))| FramePrediction {
                    ts_start: Some(t),
                    ts_end: Some(t + 2.0),
                    node: Some(node),
                    ..pred(i as u64 + 1, None, 3)
                })
                .collect();
        let (lanes, _) = NodeLane::of(&Series::from_predictions(&timed));
        assert_eq!(lanes[0].count.min_max(1..2), Some((3.0, 3.0)), "held");
        assert_eq!(
            lanes[0].count.min_max(3..4),
            None,
            "broken: 5.9 s after a 2 s window"
        );
        assert_eq!(
            lanes[1].count.min_max(2..5),
            Some((3.0, 3.0)),
            "node 2: 1 s after, held"
        );
        // One node, or none: no lanes (the timeline already is that node's plot).
        let one = Series::from_predictions(&p[..1]);
        assert!(NodeLane::of(&one).0.is_empty());
        // Over MAX_NODE_LANES nodes: the busiest kept, in node order, the rest counted.
        let many: Vec<FramePrediction> = (0..40u64)
            .map(|i| {
                let mut f = pred(i + 1, None, 0);
                f.node = Some(if i < 20 {
                    (i % 10) as u8
                } else {
                    10 + (i % 2) as u8
                });
                f
            })
            .collect();
        let (lanes, left_out) = NodeLane::of(&Series::from_predictions(&many));
        assert_eq!(left_out, 12 - MAX_NODE_LANES);
        assert_eq!(
            lanes.iter().map(|l| l.node).collect::<Vec<_>>()[..2],
            [0, 1]
        );
        assert!(lanes.iter().any(|l| l.node == 10 && l.windows == 10));
    }

    #[test]
    fn min_max_columns_keep_every_spike() {
        let mut v = vec![1.0f32; 10_000];
        v[4321] = 7.0;
        v[9999] = 0.0;
        let p = Pyramid::new(v.len(), |i| v[i]);
        let cols = min_max_columns(0..v.len(), 100, |r| p.min_max(r));
        assert_eq!(cols.len(), 100);
        assert_eq!(cols.iter().map(|c| c.end - c.first).sum::<usize>(), 10_000);
        assert!(cols
            .iter()
            .any(|c| c.max == 7.0 && (c.first..c.end).contains(&4321)));
        assert_eq!(cols[99].min, 0.0);
        // Fewer windows than pixels: one column per window.
        let p3 = Pyramid::new(3, |i| i as f32);
        assert_eq!(min_max_columns(0..3, 100, |r| p3.min_max(r)).len(), 3);
        assert!(min_max_columns(0..0, 100, |r| p3.min_max(r)).is_empty());
        let nan = Pyramid::new(3, |_| f32::NAN);
        assert!(min_max_columns(0..3, 100, |r| nan.min_max(r)).is_empty());
        // A zoomed view: absolute indices, only the view's windows read.
        let cols = min_max_columns(4000..4400, 4, |r| p.min_max(r));
        assert_eq!((cols[0].first, cols[3].end), (4000, 4400));
        assert_eq!(cols[3].max, 7.0);
        assert!(cols[..3].iter().all(|c| c.max == 1.0));
    }

    proptest::proptest! {
        /// The pyramid answers every range exactly as a scan of the range does.
        #[test]
        fn pyramid_equals_a_scan(
            values in proptest::collection::vec(proptest::option::of(-100i16..100), 0..300),
            ranges in proptest::collection::vec((0usize..320, 0usize..320), 1..20),
        ) {
            let v: Vec<f32> = values.iter().map(|x| x.map_or(f32::NAN, f32::from)).collect();
            let p = Pyramid::new(v.len(), |i| v[i]);
            for (a, b) in ranges {
                let (a, b) = (a.min(b), a.max(b));
                let scan = v[a.min(v.len())..b.min(v.len())]
                    .iter()
                    .filter(|x| !x.is_nan())
                    .fold(None, |acc: Option<(f32, f32)>, &x| {
                        Some(acc.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
                    });
                proptest::prop_assert_eq!(p.min_max(a..b), scan, "{}..{}", a, b);
            }
        }
    }

    #[test]
    fn runs_join_only_touching_columns_with_equal_extremes() {
        let col = |first, end, min, max| Column {
            first,
            end,
            min,
            max,
        };
        let merged = merge_runs(vec![
            col(0, 2, 1.0, 1.0),
            col(2, 4, 1.0, 1.0),
            col(4, 6, 1.0, 2.0),
            col(7, 9, 1.0, 2.0),
            col(9, 11, 1.0, 2.0),
        ]);
        assert_eq!(
            merged,
            vec![
                col(0, 4, 1.0, 1.0),
                col(4, 6, 1.0, 2.0),
                col(7, 11, 1.0, 2.0)
            ]
        );
        assert!(merge_runs(Vec::new()).is_empty());
    }

    #[test]
    fn envelopes_count_wrong_windows_and_split_confidence() {
        let p = vec![
            pred(1, Some(2), 2),
            pred(2, None, 5),
            pred(3, Some(0), 1),
            pred(4, Some(4), 1),
        ];
        let s = Series::from_predictions(&p);
        let e = Envelopes::new(&s);
        assert_eq!(e.wrong_in(0..4), 2);
        assert_eq!(e.wrong_in(0..2), 0);
        assert_eq!(e.wrong_in(3..99), 1);
        assert_eq!(e.truth.min_max(0..4), Some((0.0, 4.0)));
        assert_eq!(e.truth.min_max(1..2), None, "unlabelled");
        assert_eq!(
            e.confidence[0].min_max(0..4),
            Some((0.5, 0.5)),
            "one unlabelled"
        );
        assert_eq!(e.confidence[1].min_max(2..4), None, "no right window there");
        assert_eq!(e.count.min_max(0..4), Some((1.0, 5.0)));
    }

    #[test]
    fn a_pair_knows_where_the_models_disagree_and_who_leads() {
        let a = Series::from_predictions(&[
            pred(1, Some(2), 2),
            pred(2, Some(2), 1),
            pred(3, None, 4),
            pred(4, Some(0), 0),
        ]);
        let b = Series::from_predictions(&[
            pred(1, Some(2), 1),
            pred(2, Some(2), 1),
            pred(3, None, 5),
            pred(4, Some(0), 0),
        ]);
        let pair = Pair::new(&a, b.clone()).unwrap();
        assert_eq!(pair.disagree_in(0..4), 2);
        assert_eq!(pair.next_disagreement(0), Some(2));
        assert_eq!(pair.prev_disagreement(2), Some(0));
        assert_eq!(pair.next_disagreement(2), None);
        // A right at 0 where B is wrong: A leads by one from then on.
        assert_eq!(pair.lead.min_max(0..4), Some((1.0, 1.0)));
        let short = Series::from_predictions(&[pred(1, Some(2), 2)]);
        assert_eq!(
            Pair::new(&a, short).err(),
            Some(PairError::Misaligned { a: 4, b: 1, at: 1 })
        );
        let shifted = Series::from_predictions(&[
            pred(1, Some(2), 2),
            pred(5, Some(2), 1),
            pred(3, None, 4),
            pred(4, Some(0), 0),
        ]);
        assert_eq!(
            Pair::new(&a, shifted).err(),
            Some(PairError::Misaligned { a: 4, b: 4, at: 1 })
        );
    }
}
