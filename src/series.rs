//! The replay as columns: one array per field of [`FramePrediction`], the form plots and typed arrays want.
//!
//! A 24-hour recording is ≈ 100 k windows; as `Vec<FramePrediction>` that is ≈ 10 MB of small structs, as
//! columns it is the same bytes but each plot reads only the arrays it draws, and the page moves the
//! arrays between its worker and its main thread without copying (transferable typed arrays). The page's
//! drawing side rebuilds a `Series` from those arrays ([`Series::from_columns`]) and draws with the same
//! code the tests check.

use crate::replay::FramePrediction;
use crate::N_CLASSES;

/// `truth` value of an unlabelled window in [`Series::truth`] (typed arrays have no `null`).
pub const NO_TRUTH: u8 = u8::MAX;

/// Per-window predictions, column by column, in recording order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// 1-based recording line of each window.
    pub line: Vec<u32>,
    /// Window start, seconds since the epoch; NaN when the recording does not say.
    pub ts_start: Vec<f64>,
    /// Window end, seconds since the epoch; NaN when the recording does not say.
    pub ts_end: Vec<f64>,
    /// Ground truth, [`NO_TRUTH`] when unlabelled.
    pub truth: Vec<u8>,
    /// Predicted count.
    pub count: Vec<u8>,
    /// Calibrated confidence.
    pub confidence: Vec<f32>,
    /// Lower end of the 95 % interval.
    pub p95_low: Vec<u8>,
    /// Upper end of the 95 % interval.
    pub p95_high: Vec<u8>,
    /// Class probabilities, [`N_CLASSES`] per window.
    pub probs: Vec<f32>,
    /// Raw count logits, [`N_CLASSES`] per window.
    pub count_logits: Vec<f32>,
    /// Raw confidence logit.
    pub conf_logit: Vec<f32>,
}

/// Why columns handed in from outside (JavaScript) cannot form a series.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("series columns disagree: {0}")]
pub struct ColumnsError(String);

impl Series {
    /// Columns of a replay's predictions.
    pub fn from_predictions(p: &[FramePrediction]) -> Self {
        let mut s = Series::default();
        p.iter().for_each(|f| s.push(f));
        s
    }

    /// Append one prediction.
    pub fn push(&mut self, f: &FramePrediction) {
        self.line.push(f.line.min(u32::MAX as u64) as u32);
        self.ts_start.push(f.ts_start.unwrap_or(f64::NAN));
        self.ts_end.push(f.ts_end.unwrap_or(f64::NAN));
        self.truth.push(f.truth.unwrap_or(NO_TRUTH));
        self.count.push(f.count);
        self.confidence.push(f.confidence);
        self.p95_low.push(f.count_p95_low);
        self.p95_high.push(f.count_p95_high);
        self.probs.extend_from_slice(&f.probs);
        self.count_logits.extend_from_slice(&f.count_logits);
        self.conf_logit.push(f.conf_logit);
    }

    /// Rebuild a series from its columns, checking they describe the same number of windows.
    #[allow(clippy::too_many_arguments)]
    pub fn from_columns(
        line: Vec<u32>,
        ts_start: Vec<f64>,
        ts_end: Vec<f64>,
        truth: Vec<u8>,
        count: Vec<u8>,
        confidence: Vec<f32>,
        p95_low: Vec<u8>,
        p95_high: Vec<u8>,
        probs: Vec<f32>,
        count_logits: Vec<f32>,
        conf_logit: Vec<f32>,
    ) -> Result<Self, ColumnsError> {
        let n = line.len();
        let lens = [
            ("ts_start", ts_start.len(), n),
            ("ts_end", ts_end.len(), n),
            ("truth", truth.len(), n),
            ("count", count.len(), n),
            ("confidence", confidence.len(), n),
            ("p95_low", p95_low.len(), n),
            ("p95_high", p95_high.len(), n),
            ("probs", probs.len(), n * N_CLASSES),
            ("count_logits", count_logits.len(), n * N_CLASSES),
            ("conf_logit", conf_logit.len(), n),
        ];
        for (name, got, want) in lens {
            if got != want {
                return Err(ColumnsError(format!(
                    "{n} windows need {want} values in `{name}`, got {got}"
                )));
            }
        }
        if let Some(c) = count
            .iter()
            .chain(&p95_low)
            .chain(&p95_high)
            .find(|&&c| c as usize >= N_CLASSES)
        {
            return Err(ColumnsError(format!(
                "a count of {c} is outside 0–{}",
                N_CLASSES - 1
            )));
        }
        if let Some(t) = truth
            .iter()
            .find(|&&t| t as usize >= N_CLASSES && t != NO_TRUTH)
        {
            return Err(ColumnsError(format!(
                "a truth of {t} is outside 0–{} ({NO_TRUTH} means unlabelled)",
                N_CLASSES - 1
            )));
        }
        Ok(Series {
            line,
            ts_start,
            ts_end,
            truth,
            count,
            confidence,
            p95_low,
            p95_high,
            probs,
            count_logits,
            conf_logit,
        })
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.count.len()
    }

    /// Whether there are no windows.
    pub fn is_empty(&self) -> bool {
        self.count.is_empty()
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

    /// The prediction of window `i` as the struct the rest of the core uses.
    pub fn prediction(&self, i: usize) -> Option<FramePrediction> {
        if i >= self.len() {
            return None;
        }
        let arr = |v: &[f32]| {
            let mut a = [0.0; N_CLASSES];
            a.copy_from_slice(&v[i * N_CLASSES..(i + 1) * N_CLASSES]);
            a
        };
        let ts = |t: f64| (!t.is_nan()).then_some(t);
        let truth = self.truth_at(i);
        Some(FramePrediction {
            line: self.line[i] as u64,
            ts_start: ts(self.ts_start[i]),
            ts_end: ts(self.ts_end[i]),
            truth,
            count: self.count[i],
            correct: truth.map(|t| t == self.count[i]),
            confidence: self.confidence[i],
            count_p95_low: self.p95_low[i],
            count_p95_high: self.p95_high[i],
            probs: arr(&self.probs),
            count_logits: arr(&self.count_logits),
            conf_logit: self.conf_logit[i],
        })
    }

    /// All predictions (for the report of a series rebuilt from columns).
    pub fn predictions(&self) -> Vec<FramePrediction> {
        (0..self.len()).filter_map(|i| self.prediction(i)).collect()
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

    /// Per-frame CSV, the same columns as `countscope replay --format csv`.
    pub fn to_csv(&self) -> String {
        let mut out = String::with_capacity(self.len() * 120);
        out.push_str(crate::replay::CSV_HEADER);
        out.push('\n');
        for p in self.predictions() {
            out.push_str(&crate::replay::csv_row(&p));
            out.push('\n');
        }
        out
    }
}

/// One pixel column of a downsampled series: what the frames falling into it span.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Column {
    /// First window in the column.
    pub first: usize,
    /// One past the last window.
    pub end: usize,
    /// Smallest and largest value in the column.
    pub min: f32,
    /// Largest value in the column.
    pub max: f32,
}

/// Downsample the windows in `range` to at most `width` columns, each keeping its minimum and maximum, so
/// a line drawn through them shows every spike however long the series (the classic min/max decimation:
/// drawing costs O(width), not O(windows)). `value(i)` is read for absolute indices `i` in `range`, and
/// columns carry absolute indices too. NaN values are ignored; a column of only NaN is left out.
pub fn min_max_columns(
    range: std::ops::Range<usize>,
    width: usize,
    value: impl Fn(usize) -> f32,
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
        let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
        for i in first..end {
            let v = value(i);
            if !v.is_nan() {
                min = min.min(v);
                max = max.max(v);
            }
        }
        if min <= max {
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
        }
    }

    #[test]
    fn columns_round_trip_every_field() {
        let p = vec![pred(1, Some(2), 2), pred(3, None, 5), pred(4, Some(0), 1)];
        let s = Series::from_predictions(&p);
        assert_eq!(s.predictions(), p);
        let s2 = Series::from_columns(
            s.line.clone(),
            s.ts_start.clone(),
            s.ts_end.clone(),
            s.truth.clone(),
            s.count.clone(),
            s.confidence.clone(),
            s.p95_low.clone(),
            s.p95_high.clone(),
            s.probs.clone(),
            s.count_logits.clone(),
            s.conf_logit.clone(),
        )
        .unwrap();
        assert_eq!(s2.predictions(), p); // (NaN ≠ NaN, so the columns are compared through the structs)
        assert_eq!(s.next_wrong(0), Some(2));
        assert_eq!(s.prev_wrong(2), None);
        assert_eq!(s.elapsed(2), Some(3.0));
    }

    #[test]
    fn mismatched_columns_are_refused_with_the_column_named() {
        let e = Series::from_columns(
            vec![1, 2],
            vec![0.0; 2],
            vec![0.0; 2],
            vec![0; 2],
            vec![0; 2],
            vec![0.0; 2],
            vec![0; 2],
            vec![0; 2],
            vec![0.0; 15],
            vec![0.0; 16],
            vec![0.0; 2],
        )
        .unwrap_err();
        assert!(e.to_string().contains("`probs`"), "{e}");
        let e = Series::from_columns(
            vec![1],
            vec![0.0],
            vec![0.0],
            vec![0],
            vec![9],
            vec![0.0],
            vec![0],
            vec![0],
            vec![0.0; 8],
            vec![0.0; 8],
            vec![0.0],
        )
        .unwrap_err();
        assert!(e.to_string().contains("count of 9"), "{e}");
        let e = Series::from_columns(
            vec![1],
            vec![0.0],
            vec![0.0],
            vec![9],
            vec![0],
            vec![0.0],
            vec![0],
            vec![0],
            vec![0.0; 8],
            vec![0.0; 8],
            vec![0.0],
        )
        .unwrap_err();
        assert!(e.to_string().contains("truth of 9"), "{e}");
    }

    #[test]
    fn min_max_columns_keep_every_spike() {
        let mut v = vec![1.0f32; 10_000];
        v[4321] = 7.0;
        v[9999] = 0.0;
        let cols = min_max_columns(0..v.len(), 100, |i| v[i]);
        assert_eq!(cols.len(), 100);
        assert_eq!(cols.iter().map(|c| c.end - c.first).sum::<usize>(), 10_000);
        assert!(cols
            .iter()
            .any(|c| c.max == 7.0 && (c.first..c.end).contains(&4321)));
        assert_eq!(cols[99].min, 0.0);
        // Fewer windows than pixels: one column per window.
        assert_eq!(min_max_columns(0..3, 100, |i| i as f32).len(), 3);
        assert!(min_max_columns(0..0, 100, |_| 0.0).is_empty());
        assert!(min_max_columns(0..3, 100, |_| f32::NAN).is_empty());
        // A zoomed view: absolute indices, only the view's windows read.
        let cols = min_max_columns(4000..4400, 4, |i| v[i]);
        assert_eq!((cols[0].first, cols[3].end), (4000, 4400));
        assert_eq!(cols[3].max, 7.0);
        assert!(cols[..3].iter().all(|c| c.max == 1.0));
    }
}
