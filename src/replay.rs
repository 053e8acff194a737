//! Replaying a recording against a model: byte chunks in, one [`FramePrediction`] per window out.
//!
//! [`Replay`] owns the push parser and a batch of parsed windows; whenever a batch fills it runs the model,
//! so memory stays at one line plus one batch of windows however long the recording is (the predictions
//! themselves, ≈ 100 bytes each, are kept for the report and the plots).

use crate::input::{InputStats, InputSummary};
use crate::model::{Calibration, CountModel, Logits, ModelError};
use crate::recording::range::{LineCut, LineRange};
use crate::recording::{LayoutPolicy, LayoutTally, LineError, Reader, Record, StreamError};
use crate::store::WindowStore;
use crate::{time, N_CLASSES, WINDOW_LEN};
use serde::{Serialize, Serializer};
use std::borrow::Borrow;

/// Bad lines kept word for word (the count is always exact); enough to list every bad line of any
/// recording a person would fix by hand, bounded for a 1 GB file of garbage.
pub const MAX_KEPT_LINE_ERRORS: usize = 1000;

/// The model's reading of one window, with RuView's `person.count` field names where they mean the same.
/// (Its columns, for typed arrays and CSV, are the table in [`crate::series`].)
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FramePrediction {
    /// 1-based line of the recording this window came from.
    pub line: u64,
    /// Start of the window (ISO-8601 in JSON), if the recording says.
    #[serde(serialize_with = "iso")]
    pub ts_start: Option<f64>,
    /// End of the window (ISO-8601 in JSON), if the recording says.
    #[serde(serialize_with = "iso")]
    pub ts_end: Option<f64>,
    /// Ground truth `n_persons_mode`, `null` when unlabelled.
    pub truth: Option<u8>,
    /// Predicted count: argmax of `probs` (lowest class on ties).
    pub count: u8,
    /// Whether `count == truth`, `null` when unlabelled.
    pub correct: Option<bool>,
    /// Calibrated confidence σ(conf_logit / T).
    pub confidence: f32,
    /// Lower end of the 95 % interval grown greedily from the mode (RuView's rule).
    pub count_p95_low: u8,
    /// Upper end of that interval.
    pub count_p95_high: u8,
    /// Softmax of `count_logits`: probabilities of 0–7 persons.
    pub probs: [f32; N_CLASSES],
    /// The model's raw count logits (for parity checks across targets).
    pub count_logits: [f32; N_CLASSES],
    /// The model's raw confidence logit.
    pub conf_logit: f32,
    /// RuView's `n_persons_max`: the most people seen during the window, `null` when the recording does
    /// not say (a window whose max exceeds its mode saw someone come or go).
    pub truth_max: Option<u8>,
    /// The ESP32 node whose frames made the window (`node_id` of a raw frame file), `null` for paired
    /// lines and the recorder format's one unnamed node.
    pub node: Option<u8>,
}

fn iso<S: Serializer>(t: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&time::format_iso8601(*t)),
        None => s.serialize_none(),
    }
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f32; N_CLASSES]) -> [f32; N_CLASSES] {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut p = logits.map(|l| (l - max).exp());
    let sum: f32 = p.iter().sum();
    p.iter_mut().for_each(|v| *v /= sum);
    p
}

/// Index of the largest probability, the lowest index on ties.
pub fn argmax(p: &[f32; N_CLASSES]) -> u8 {
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = i;
        }
    }
    best as u8
}

/// RuView's 95 % interval: start at the mode and repeatedly take the larger neighbour (the lower one on a
/// tie) until the interval holds at least 95 % of the probability mass.
pub fn p95_interval(p: &[f32; N_CLASSES], mode: u8) -> (u8, u8) {
    let (mut lo, mut hi) = (mode as usize, mode as usize);
    let mut mass = p[lo];
    while mass < 0.95 && (lo > 0 || hi < N_CLASSES - 1) {
        let left = if lo > 0 { p[lo - 1] } else { f32::NEG_INFINITY };
        let right = if hi < N_CLASSES - 1 {
            p[hi + 1]
        } else {
            f32::NEG_INFINITY
        };
        if right > left {
            hi += 1;
            mass += p[hi];
        } else {
            lo -= 1;
            mass += p[lo];
        }
    }
    (lo as u8, hi as u8)
}

impl FramePrediction {
    /// A window's prediction from its logits: softmax, argmax, the 95 % interval and the calibrated
    /// confidence, with what the record says of the window (line, times, truth). The one place logits
    /// become a reading.
    pub fn from_logits(
        record: &Record,
        count_logits: [f32; N_CLASSES],
        conf_logit: f32,
        calibration: &Calibration,
    ) -> Self {
        let probs = softmax(&count_logits);
        let count = argmax(&probs);
        let (count_p95_low, count_p95_high) = p95_interval(&probs, count);
        FramePrediction {
            line: record.line,
            ts_start: record.ts_start,
            ts_end: record.ts_end,
            truth: record.truth,
            count,
            correct: record.truth.map(|t| t == count),
            confidence: calibration.confidence(conf_logit),
            count_p95_low,
            count_p95_high,
            probs,
            count_logits,
            conf_logit,
            truth_max: record.truth_max,
            node: record.node,
        }
    }
}

/// Turn a batch's logits into predictions for its records.
pub fn predict(
    records: &[Record],
    logits: &Logits,
    calibration: &Calibration,
) -> Vec<FramePrediction> {
    records
        .iter()
        .zip(logits.count.iter().zip(&logits.conf))
        .map(|(r, (count_logits, &conf_logit))| {
            FramePrediction::from_logits(r, *count_logits, conf_logit, calibration)
        })
        .collect()
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A bad line in strict mode.
    #[error("{0} (strict mode stops at the first bad line)")]
    Line(LineError),
    /// The model failed to run.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A corrupt gzip stream in strict mode.
    #[error("{0} (strict mode stops here)")]
    Stream(StreamError),
    /// A shard that does not exist was asked for.
    #[error("shard {index} of {count} does not exist (shards are numbered 0 to count - 1)")]
    Shard { index: usize, count: usize },
    /// Another shard's predictions do not fit this replay.
    #[error("cannot merge shard: {0}")]
    Merge(String),
    /// A byte range of an input that cannot be split by bytes ([`Replay::read_range`]).
    #[error("cannot read this recording by byte ranges: {0}")]
    Range(&'static str),
}

/// Bad lines met during a replay.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Diagnostics {
    /// How many lines were skipped (exact).
    pub skipped_lines: u64,
    /// The first [`MAX_KEPT_LINE_ERRORS`] of them, in order.
    pub line_errors: Vec<LineError>,
    /// Why reading stopped before the end of the input (a corrupt or truncated gzip stream); the lines
    /// decoded before that point were replayed.
    pub stream_error: Option<String>,
    /// Whether the input was gzip-compressed.
    pub gzip: bool,
    /// Windows whose line is marked `synthetic` (made by a simulator, not measured).
    pub synthetic_windows: u64,
    /// The first `synthetic` tag seen: how the recording was made.
    pub synthetic_source: Option<String>,
    /// How a CSI frame file's frames were framed into windows (`None` for a paired recording).
    pub framing: Option<crate::recording::Framing>,
}

/// Everything a finished replay produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// One prediction per good window, in recording order.
    pub predictions: Vec<FramePrediction>,
    /// The bad lines.
    pub diagnostics: Diagnostics,
    /// Which layouts fed the model.
    pub layout: LayoutTally,
    /// Bytes read, as given (compressed, if the input was gzip).
    pub bytes: u64,
    /// Every window, 8-bit, when [`Replay::keep_windows`] asked for them (the page's heatmap).
    pub windows: Option<WindowStore>,
    /// The sums of what the windows held before normalisation (every window read; kept by shard 0 only,
    /// which reads them all and reports): they pool exactly over several recordings (an evaluation's).
    pub input_stats: InputStats,
    /// Lines read, blank and bad ones included: where the next byte range's line numbers begin.
    pub lines: u64,
}

impl Outcome {
    /// What the windows held before normalisation, `None` when none was read or in a helper shard.
    pub fn input(&self) -> Option<InputSummary> {
        self.input_stats.summary()
    }

    /// When no window was usable, what every shell says (`name` is the recording's): how many lines were
    /// skipped, the first reasons, and where the input stopped early. `None` when there are windows.
    pub fn no_window_message(&self, name: &str) -> Option<String> {
        if !self.predictions.is_empty() {
            return None;
        }
        let d = &self.diagnostics;
        let mut out = format!(
            "{name}: no usable window ({} line(s) skipped)",
            d.skipped_lines
        );
        let first: Vec<String> = d
            .line_errors
            .iter()
            .take(5)
            .map(|e| format!("line {}: {}", e.line, e.reason))
            .collect();
        if !first.is_empty() {
            out.push_str(": ");
            out.push_str(&first.join("; "));
            if d.skipped_lines > first.len() as u64 {
                out.push_str(&format!(
                    " (and {} more)",
                    d.skipped_lines - first.len() as u64
                ));
            }
        }
        if let Some(e) = &d.stream_error {
            out.push_str(&format!("; the input stops early: {e}"));
        }
        // A frame file shorter than a window (or all gaps) says what its frames made.
        if let Some(f) = &d.framing {
            out.push_str(&format!("; {}", f.describe().replace('\n', "; ")));
        }
        Some(out)
    }

    /// Append the outcome of the next byte range of the same file ([`Replay::read_range`]): its line
    /// numbers continue this one's, and everything counted over lines adds up, so the ranges of a file
    /// appended in order are the replay of the whole file (the predictions bit for bit). The input sums
    /// pool range by range rather than window by window, so their `f64` totals can differ from a single
    /// pass in the last bit; the summary a report shows is `f32`, where the two agree.
    pub fn append(&mut self, mut next: Outcome) -> Result<(), ReplayError> {
        if self.diagnostics.framing.is_some() || next.diagnostics.framing.is_some() {
            return Err(ReplayError::Merge(
                "CSI frame files are not split by bytes".into(),
            ));
        }
        if self.windows.is_some() != next.windows.is_some() {
            return Err(ReplayError::Merge(
                "one share kept its windows and the other did not".into(),
            ));
        }
        if self.diagnostics.gzip != next.diagnostics.gzip {
            return Err(ReplayError::Merge(
                "one share read a gzip file and the other a plain one".into(),
            ));
        }
        let offset = self.lines;
        for p in &mut next.predictions {
            p.line += offset;
        }
        self.predictions.append(&mut next.predictions);
        let (d, n) = (&mut self.diagnostics, next.diagnostics);
        d.skipped_lines += n.skipped_lines;
        let room = MAX_KEPT_LINE_ERRORS.saturating_sub(d.line_errors.len());
        d.line_errors
            .extend(n.line_errors.into_iter().take(room).map(|mut e| {
                e.line += offset;
                e
            }));
        if d.stream_error.is_none() {
            d.stream_error = n.stream_error;
        }
        d.gzip |= n.gzip;
        d.synthetic_windows += n.synthetic_windows;
        if d.synthetic_source.is_none() {
            d.synthetic_source = n.synthetic_source;
        }
        self.layout.merge(&next.layout);
        // Plain ranges read their own bytes; every range of a gzip file read it from its first byte, and
        // the last one all of it: the file's bytes are the most any range read.
        self.bytes = if self.diagnostics.gzip {
            self.bytes.max(next.bytes)
        } else {
            self.bytes + next.bytes
        };
        if let (Some(mine), Some(theirs)) = (&mut self.windows, next.windows) {
            mine.append(theirs);
        }
        self.input_stats.merge(&next.input_stats);
        self.lines += next.lines;
        Ok(())
    }

    /// Merge the predictions another shard of the same replay made ([`Replay::shard`]): both lists are in
    /// recording order, so this is one ordered merge by line. Every shard read the whole recording, so
    /// the bad lines, layouts, bytes and windows kept here already describe all of it. A line predicted
    /// twice means the shards overlapped, and is refused.
    pub fn merge_shard(&mut self, other: Vec<FramePrediction>) -> Result<(), ReplayError> {
        if other.windows(2).any(|w| w[0].line >= w[1].line) {
            return Err(ReplayError::Merge(
                "its predictions are not in recording order".into(),
            ));
        }
        let mine = std::mem::take(&mut self.predictions);
        let mut merged = Vec::with_capacity(mine.len() + other.len());
        let (mut a, mut b) = (mine.into_iter().peekable(), other.into_iter().peekable());
        loop {
            let take_a = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.line == y.line => {
                    return Err(ReplayError::Merge(format!(
                        "line {} was predicted by both shards",
                        x.line
                    )))
                }
                (Some(x), Some(y)) => x.line < y.line,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            merged.extend(if take_a { a.next() } else { b.next() });
        }
        self.predictions = merged;
        Ok(())
    }
}

/// Which share of the windows a replay runs through the model: blocks of `batch` consecutive good windows
/// are dealt round-robin to `count` shards, so several replays of the same bytes (one per core, in the
/// page's workers) together run every window exactly once, each in full batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shard {
    index: usize,
    count: usize,
}

/// A replay in progress: push chunks, then [`Replay::finish`].
///
/// `M` is how the replay holds its model: `&CountModel` in the CLI, `Rc<CountModel>` in the page (whose
/// replay outlives any borrow JavaScript could hand it).
pub struct Replay<M: Borrow<CountModel>> {
    model: M,
    reader: Reader,
    input_bytes: u64,
    strict: bool,
    parsed: Vec<Result<Record, LineError>>,
    pending: Vec<Record>,
    windows: Vec<f32>,
    predictions: Vec<FramePrediction>,
    diagnostics: Diagnostics,
    layout: LayoutTally,
    store: Option<WindowStore>,
    stats: InputStats,
    shard: Shard,
    /// Good windows read so far (all shards').
    good: u64,
    /// Reading one byte range of a plain file ([`Replay::read_range`]): the filter keeping its lines.
    range: Option<LineCut>,
    /// Reading one share of a gzip file's text: the reader cuts after decoding.
    compressed_range: bool,
}

impl<M: Borrow<CountModel>> Replay<M> {
    /// Start a replay. `strict` stops at the first bad line instead of reporting it and going on.
    pub fn new(model: M, policy: LayoutPolicy, strict: bool) -> Self {
        let batch = model.borrow().batch_size();
        Self {
            model,
            reader: Reader::new(policy),
            input_bytes: 0,
            strict,
            parsed: Vec::new(),
            pending: Vec::with_capacity(batch),
            windows: Vec::with_capacity(batch * WINDOW_LEN),
            predictions: Vec::new(),
            diagnostics: Diagnostics::default(),
            layout: LayoutTally::new(policy),
            store: None,
            stats: InputStats::default(),
            shard: Shard { index: 0, count: 1 },
            good: 0,
            range: None,
            compressed_range: false,
        }
    }

    /// Replay only the lines of one byte range of a file ([`LineRange`]): the caller pushes the file's
    /// bytes from [`LineRange::read_from`] on and may stop as soon as [`Replay::range_done`]. Line numbers
    /// count from the range's first line; [`Outcome::append`] puts the ranges back together. A plain
    /// range's [`Outcome::bytes`] counts its own bytes; a compressed range (a gzip file split by its
    /// decoded text, read from the file's first byte) counts the compressed bytes it read, of which the
    /// last range reads all. A CSI frame file cannot be split by bytes, nor can a plain range be read
    /// from a gzip file or a compressed one from a plain file: each is refused. Call before the first
    /// push, instead of [`Replay::shard`].
    pub fn read_range(&mut self, range: LineRange) -> Result<(), ReplayError> {
        if self.shard.count != 1 {
            return Err(ReplayError::Range("it is already sharded by batches"));
        }
        if !range.is_first() {
            self.reader.set_continuing();
        }
        if range.compressed {
            self.reader.cut_decoded(range.cut());
            self.compressed_range = true;
        } else {
            self.range = Some(range.cut());
        }
        Ok(())
    }

    /// Whether a byte range's last line has been read ([`Replay::read_range`]): the rest of the file is
    /// another range's.
    pub fn range_done(&self) -> bool {
        self.range.as_ref().is_some_and(LineCut::is_done) || self.reader.cut_done()
    }

    /// Run only shard `index` of `count` through the model (see [`Outcome::merge_shard`]): every window is
    /// still read, counted, checked and (with [`Replay::keep_windows`]) kept, but only every `count`-th
    /// batch is inferred. Call before the first push.
    pub fn shard(&mut self, index: usize, count: usize) -> Result<(), ReplayError> {
        if count == 0 || index >= count {
            return Err(ReplayError::Shard { index, count });
        }
        self.shard = Shard { index, count };
        Ok(())
    }

    /// Frames between window starts when the input is a CSI frame file (default 20: windows do not
    /// overlap; 1: RuView's sliding cog). Call before the first push.
    pub fn set_hop(&mut self, hop: usize) {
        self.reader.set_hop(hop);
    }

    /// Good windows read so far, inferred here or not: the progress of a sharded replay.
    pub fn windows_read(&self) -> u64 {
        self.good
    }

    /// Also keep every window (8-bit, ≈ 1.1 kB each) for displays that show any window after the fact.
    pub fn keep_windows(&mut self) {
        self.store.get_or_insert_with(WindowStore::default);
    }

    /// Feed the next chunk of the recording (any size, split anywhere).
    /// gzip input is recognised by its magic bytes and decompressed on the way.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ReplayError> {
        let chunk = match &mut self.range {
            Some(cut) => cut.keep(chunk),
            None => chunk,
        };
        self.input_bytes += chunk.len() as u64;
        let result = self.reader.push(chunk);
        self.check_range()?;
        self.absorb()?;
        self.stream_result(result)
    }

    /// A byte range must be of a file of window lines, plain or gzip as the range says (the decoder and
    /// the parser know by now).
    fn check_range(&self) -> Result<(), ReplayError> {
        if self.range.is_none() && !self.compressed_range {
            return Ok(());
        }
        if self.range.is_some() && self.reader.is_gzip() {
            return Err(ReplayError::Range(
                "it is gzip-compressed (split it by its decoded text)",
            ));
        }
        if self.compressed_range && self.input_bytes >= 2 && !self.reader.is_gzip() {
            return Err(ReplayError::Range(
                "a range of decoded text was asked of a plain file",
            ));
        }
        if self.reader.framing().is_some() {
            return Err(ReplayError::Range(
                "it is a CSI frame file (windows span lines)",
            ));
        }
        Ok(())
    }

    /// End of input: parse a last unterminated line, run the last partial batch, and hand everything over.
    pub fn finish(mut self) -> Result<Outcome, ReplayError> {
        let result = self.reader.finish();
        self.check_range()?;
        self.absorb()?;
        self.stream_result(result)?;
        self.run_pending()?;
        self.diagnostics.gzip = self.reader.is_gzip();
        self.diagnostics.framing = self.reader.framing();
        Ok(Outcome {
            predictions: self.predictions,
            diagnostics: self.diagnostics,
            layout: self.layout,
            bytes: self.input_bytes,
            windows: self.store,
            input_stats: self.stats,
            lines: self.reader.lines(),
        })
    }

    fn stream_result(&mut self, result: Result<(), StreamError>) -> Result<(), ReplayError> {
        match result {
            Err(e) if self.strict => Err(ReplayError::Stream(e)),
            Err(e) => {
                self.diagnostics.stream_error.get_or_insert(e.to_string());
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    /// Predictions so far (for progress displays and live plots).
    pub fn predictions(&self) -> &[FramePrediction] {
        &self.predictions
    }

    /// Bad lines so far.
    pub fn diagnostics(&self) -> &Diagnostics {
        &self.diagnostics
    }

    /// Bytes pushed so far, as given (compressed, for gzip input): what a progress bar compares with the
    /// file size.
    pub fn bytes_read(&self) -> u64 {
        self.input_bytes
    }

    fn absorb(&mut self) -> Result<(), ReplayError> {
        let mut parsed = std::mem::take(&mut self.parsed);
        self.reader.take_lines(&mut parsed);
        for item in parsed.drain(..) {
            match item {
                Ok(mut record) => {
                    self.layout.add(&record);
                    // Only the primary shard reports; a helper's statistics would be thrown away.
                    if self.shard.index == 0 {
                        self.stats.add(&record.window);
                    }
                    if let Some(store) = &mut self.store {
                        store.push(&record.window);
                    }
                    if let Some(tag) = record.synthetic.take() {
                        self.diagnostics.synthetic_windows += 1;
                        self.diagnostics.synthetic_source.get_or_insert(tag);
                    }
                    let batch = self.model.borrow().batch_size() as u64;
                    let mine =
                        (self.good / batch) % self.shard.count as u64 == self.shard.index as u64;
                    self.good += 1;
                    if !mine {
                        continue;
                    }
                    self.pending.push(record);
                    if self.pending.len() as u64 >= batch {
                        self.run_pending()?;
                    }
                }
                Err(e) if self.strict => return Err(ReplayError::Line(e)),
                Err(e) => {
                    self.diagnostics.skipped_lines += 1;
                    if self.diagnostics.line_errors.len() < MAX_KEPT_LINE_ERRORS {
                        self.diagnostics.line_errors.push(e);
                    }
                }
            }
        }
        self.parsed = parsed;
        Ok(())
    }

    fn run_pending(&mut self) -> Result<(), ReplayError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.windows.clear();
        self.pending
            .iter()
            .for_each(|r| self.windows.extend_from_slice(&r.window));
        let model = self.model.borrow();
        let logits = model.infer(&self.windows)?;
        self.predictions
            .extend(predict(&self.pending, &logits, model.calibration()));
        self.pending.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_grows_towards_the_larger_neighbour() {
        let p = [0.0, 0.1, 0.6, 0.3, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(p95_interval(&p, 2), (1, 3));
        let p = [0.96, 0.04, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(p95_interval(&p, 0), (0, 0));
        let uniform = [0.125; 8];
        assert_eq!(p95_interval(&uniform, argmax(&uniform)), (0, 7));
    }

    #[test]
    fn softmax_is_stable_and_sums_to_one() {
        let p = softmax(&[1000.0, 0.0, -1000.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(argmax(&p), 0);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
