//! What the model was fed: per-subcarrier statistics of the input windows, and the recording's own
//! z-scoring (`--normalise recording`).
//!
//! RuView trained `CountNet` on per-subcarrier z-scored amplitudes and published no statistics; its runtime
//! feeds raw amplitudes (0–60 and more). A model fed input on a scale it never saw can still produce
//! confident-looking numbers, so every report says what the input looked like ([`InputSummary`]) and the
//! findings say when that scale cannot be what the model was trained on.
//!
//! Statistics are over every value of every window, per subcarrier (model order: row `s` of `[56][20]`),
//! accumulated in `f64` in recording order, so every target computes the same bits.

use crate::model::calibration::Normalisation;
use crate::model::{CountModel, Source};
use crate::recording::{LayoutPolicy, LineError, Reader, Record};
use crate::{N_FRAMES, N_SUBCARRIERS};
use serde::{Deserialize, Serialize};

/// The smallest standard deviation a z-score divides by: a subcarrier that never varies (the zeroed guard
/// and DC bins of a real recording) is centred, not blown up. The same floor as the sample model's
/// training (`artifacts/train/train.py`).
pub const STD_FLOOR: f32 = 1e-3;

/// Running per-subcarrier sums over windows in model order.
///
/// Serialised exactly (every float as the hex of its bits, [`ExactStats`]): an evaluation's outcome files
/// carry these sums, and pooled statistics merged from files must be the bits a single run computes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "ExactStats", try_from = "ExactStats")]
pub struct InputStats {
    windows: u64,
    sum: [f64; N_SUBCARRIERS],
    sum_sq: [f64; N_SUBCARRIERS],
    min: [f32; N_SUBCARRIERS],
    max: [f32; N_SUBCARRIERS],
}

impl Default for InputStats {
    fn default() -> Self {
        Self {
            windows: 0,
            sum: [0.0; N_SUBCARRIERS],
            sum_sq: [0.0; N_SUBCARRIERS],
            min: [f32::INFINITY; N_SUBCARRIERS],
            max: [f32::NEG_INFINITY; N_SUBCARRIERS],
        }
    }
}

impl InputStats {
    /// Add one window in model order (`WINDOW_LEN` values).
    pub fn add(&mut self, window: &[f32]) {
        for (s, row) in window
            .chunks_exact(N_FRAMES)
            .take(N_SUBCARRIERS)
            .enumerate()
        {
            for &x in row {
                let v = x as f64;
                self.sum[s] += v;
                self.sum_sq[s] += v * v;
                self.min[s] = self.min[s].min(x);
                self.max[s] = self.max[s].max(x);
            }
        }
        self.windows += 1;
    }

    /// Add another recording's sums after this one's: pooled statistics over several recordings. Merging
    /// in the same order always gives the same bits.
    pub fn merge(&mut self, other: &InputStats) {
        for s in 0..N_SUBCARRIERS {
            self.sum[s] += other.sum[s];
            self.sum_sq[s] += other.sum_sq[s];
            self.min[s] = self.min[s].min(other.min[s]);
            self.max[s] = self.max[s].max(other.max[s]);
        }
        self.windows += other.windows;
    }

    /// The summary, `None` before the first window.
    pub fn summary(&self) -> Option<InputSummary> {
        if self.windows == 0 {
            return None;
        }
        let n = (self.windows * N_FRAMES as u64) as f64;
        let mean: Vec<f64> = self.sum.iter().map(|s| s / n).collect();
        let std: Vec<f64> = self
            .sum_sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| (q / n - m * m).max(0.0).sqrt())
            .collect();
        Some(InputSummary {
            windows: self.windows,
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: std.iter().map(|&s| s as f32).collect(),
            min: self.min.iter().cloned().fold(f32::INFINITY, f32::min),
            max: self.max.iter().cloned().fold(f32::NEG_INFINITY, f32::max),
            subcarrier_min: self.min.to_vec(),
            subcarrier_max: self.max.to_vec(),
        })
    }
}

/// [`InputStats`] as JSON without rounding: each `f64` as `0x` and the 16 hex digits of its bits, each
/// `f32` as 8 (JSON numbers would go through decimal, and infinities, the empty minimum, have none).
#[derive(Serialize, Deserialize)]
pub struct ExactStats {
    windows: u64,
    sum: Vec<String>,
    sum_sq: Vec<String>,
    min: Vec<String>,
    max: Vec<String>,
}

impl From<InputStats> for ExactStats {
    fn from(s: InputStats) -> Self {
        let h64 = |v: &[f64]| {
            v.iter()
                .map(|x| format!("0x{:016x}", x.to_bits()))
                .collect()
        };
        let h32 = |v: &[f32]| v.iter().map(|x| format!("0x{:08x}", x.to_bits())).collect();
        ExactStats {
            windows: s.windows,
            sum: h64(&s.sum),
            sum_sq: h64(&s.sum_sq),
            min: h32(&s.min),
            max: h32(&s.max),
        }
    }
}

impl TryFrom<ExactStats> for InputStats {
    type Error = String;
    fn try_from(e: ExactStats) -> Result<Self, String> {
        fn bits<const N: usize>(
            what: &str,
            v: &[String],
            digits: usize,
        ) -> Result<[u64; N], String> {
            if v.len() != N {
                return Err(format!(
                    "input statistics: {what} has {} values, not {N}",
                    v.len()
                ));
            }
            let mut out = [0u64; N];
            for (o, x) in out.iter_mut().zip(v) {
                *o = x
                    .strip_prefix("0x")
                    .filter(|h| h.len() == digits)
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        format!("input statistics: {what}: {x:?} is not 0x and {digits} hex digits")
                    })?;
            }
            Ok(out)
        }
        let f64s = |b: [u64; N_SUBCARRIERS]| b.map(f64::from_bits);
        let f32s = |b: [u64; N_SUBCARRIERS]| b.map(|x| f32::from_bits(x as u32));
        Ok(InputStats {
            windows: e.windows,
            sum: f64s(bits("sum", &e.sum, 16)?),
            sum_sq: f64s(bits("sum_sq", &e.sum_sq, 16)?),
            min: f32s(bits("min", &e.min, 8)?),
            max: f32s(bits("max", &e.max, 8)?),
        })
    }
}

/// The first pass of `--normalise recording`: read a whole recording (any chunking, plain or gzip) for
/// its per-subcarrier statistics, without a model. Bad lines are skipped here; the replay that follows
/// reports them.
#[derive(Debug)]
pub struct StatsPass {
    reader: Reader,
    lines: Vec<Result<Record, LineError>>,
    stats: InputStats,
}

impl StatsPass {
    /// A pass reading flat `csi` arrays by `policy` (the replay's own, so both passes see the same windows).
    pub fn new(policy: LayoutPolicy) -> Self {
        Self {
            reader: Reader::new(policy),
            lines: Vec::new(),
            stats: InputStats::default(),
        }
    }

    /// Feed the next chunk (a corrupt gzip stream keeps what came before and ignores the rest).
    pub fn push(&mut self, chunk: &[u8]) {
        // A stream error is reported by the replay pass, which reads the same bytes.
        let _ = self.reader.push(chunk);
        self.absorb();
    }

    /// End of input: the statistics, `None` when no window was read.
    pub fn finish(mut self) -> Option<InputSummary> {
        let _ = self.reader.finish();
        self.absorb();
        self.stats.summary()
    }

    /// End of input, for `--normalise recording`: `model` z-scores each subcarrier by the statistics read
    /// (source: the recording). A recording without a window leaves `model` as it was. The CLI, the
    /// worker and the typed component all normalise through here.
    pub fn normalise(self, model: &mut CountModel) {
        if let Some(stats) = self.finish() {
            model.set_normalisation(stats.normalisation(), Source::Recording);
        }
    }

    fn absorb(&mut self) {
        self.reader.take_lines(&mut self.lines);
        for r in self.lines.drain(..).flatten() {
            self.stats.add(&r.window);
        }
    }
}

/// What the recording's windows held, as laid out for the model, before any normalisation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InputSummary {
    /// Windows summarised.
    pub windows: u64,
    /// Mean of each of the 56 subcarriers (rows) over all frames of all windows.
    pub mean: Vec<f32>,
    /// Population standard deviation of each subcarrier.
    pub std: Vec<f32>,
    /// The smallest value fed.
    pub min: f32,
    /// The largest value fed.
    pub max: f32,
    /// Per-subcarrier minimum (for the range after normalisation).
    #[serde(skip)]
    pub subcarrier_min: Vec<f32>,
    /// Per-subcarrier maximum.
    #[serde(skip)]
    pub subcarrier_max: Vec<f32>,
}

/// The median of some values (the mean of the middle two for an even count).
pub fn median(values: &[f32]) -> f32 {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f32::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let k = v.len() / 2;
    if v.len() % 2 == 1 {
        v[k]
    } else {
        (v[k - 1] + v[k]) / 2.0
    }
}

/// Input is "far from zero-mean, unit-scale" when the median over subcarriers of |mean| is above this …
pub const FAR_MEAN: f32 = 2.0;
/// … or the median standard deviation lies outside [1/FAR_SCALE, FAR_SCALE].
pub const FAR_SCALE: f32 = 3.0;

/// A distribution shift: more than this share of subcarriers sit far from the model's statistics …
pub const SHIFT_SHARE: f64 = 0.25;
/// … a subcarrier is far when its mean moved by more than this many of the model's standard deviations …
pub const SHIFT_MEAN: f32 = 1.0;
/// … or its standard deviation is more than this factor larger or smaller than the model's.
pub const SHIFT_SCALE: f32 = 2.0;

impl InputSummary {
    /// The z-scoring that makes this input zero-mean and unit-scale per subcarrier (`--normalise
    /// recording`), with [`STD_FLOOR`].
    pub fn normalisation(&self) -> Normalisation {
        Normalisation {
            mean: self.mean.clone(),
            std: self.std.iter().map(|&s| s.max(STD_FLOOR)).collect(),
        }
    }

    /// The same statistics after `n` is applied: what the model actually received.
    pub fn normalised_by(&self, n: &Normalisation) -> InputSummary {
        let z = |x: f32, s: usize| (x - n.mean[s]) / n.std[s];
        let lo: Vec<f32> = (0..N_SUBCARRIERS)
            .map(|s| z(self.subcarrier_min[s], s))
            .collect();
        let hi: Vec<f32> = (0..N_SUBCARRIERS)
            .map(|s| z(self.subcarrier_max[s], s))
            .collect();
        InputSummary {
            windows: self.windows,
            mean: (0..N_SUBCARRIERS).map(|s| z(self.mean[s], s)).collect(),
            std: (0..N_SUBCARRIERS).map(|s| self.std[s] / n.std[s]).collect(),
            min: lo.iter().cloned().fold(f32::INFINITY, f32::min),
            max: hi.iter().cloned().fold(f32::NEG_INFINITY, f32::max),
            subcarrier_min: lo,
            subcarrier_max: hi,
        }
    }

    /// The median over subcarriers of |mean|: how far from zero-mean the input sits.
    pub fn median_abs_mean(&self) -> f32 {
        median(&self.mean.iter().map(|m| m.abs()).collect::<Vec<_>>())
    }

    /// The median over subcarriers of the standard deviation: the input's typical scale.
    pub fn median_std(&self) -> f32 {
        median(&self.std)
    }

    /// Whether this input is far from zero-mean/unit-scale ([`FAR_MEAN`], [`FAR_SCALE`]).
    pub fn far_from_unit_scale(&self) -> bool {
        self.median_abs_mean() > FAR_MEAN
            || !(1.0 / FAR_SCALE..=FAR_SCALE).contains(&self.median_std())
    }

    /// How many subcarriers sit far from a model's statistics ([`SHIFT_MEAN`], [`SHIFT_SCALE`]).
    pub fn shifted_subcarriers(&self, model: &Normalisation) -> usize {
        (0..N_SUBCARRIERS)
            .filter(|&s| {
                let sd = model.std[s];
                let moved = (self.mean[s] - model.mean[s]).abs() / sd > SHIFT_MEAN;
                let ratio = self.std[s].max(STD_FLOOR) / sd;
                moved || !(1.0 / SHIFT_SCALE..=SHIFT_SCALE).contains(&ratio)
            })
            .count()
    }

    /// One line for reports: the scale of the input.
    pub fn describe(&self) -> String {
        let range = |v: &[f32]| {
            let lo = v.iter().cloned().fold(f32::INFINITY, f32::min);
            let hi = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            format!(
                "{} to {} (median {})",
                short(lo),
                short(hi),
                short(median(v))
            )
        };
        format!(
            "per-subcarrier mean {}, std {}; values {} to {}",
            range(&self.mean),
            range(&self.std),
            short(self.min),
            short(self.max)
        )
    }
}

/// A number with three significant digits, for sentences.
fn short(x: f32) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WINDOW_LEN;

    fn window(f: impl Fn(usize, usize) -> f32) -> Vec<f32> {
        (0..WINDOW_LEN)
            .map(|i| f(i / N_FRAMES, i % N_FRAMES))
            .collect()
    }

    #[test]
    fn statistics_are_per_subcarrier_over_all_frames() {
        let mut st = InputStats::default();
        assert!(st.summary().is_none());
        // Subcarrier s alternates s and s + 2 over frames: mean s + 1, std 1.
        st.add(&window(|s, f| {
            s as f32 + if f % 2 == 0 { 0.0 } else { 2.0 }
        }));
        st.add(&window(|s, f| {
            s as f32 + if f % 2 == 0 { 2.0 } else { 0.0 }
        }));
        let sum = st.summary().unwrap();
        assert_eq!(sum.windows, 2);
        for s in 0..N_SUBCARRIERS {
            assert!((sum.mean[s] - (s as f32 + 1.0)).abs() < 1e-6);
            assert!((sum.std[s] - 1.0).abs() < 1e-6);
        }
        assert_eq!((sum.min, sum.max), (0.0, 57.0));
        assert!(sum.far_from_unit_scale(), "median mean 28.5");
        let z = sum.normalised_by(&sum.normalisation());
        assert!(z.mean.iter().all(|m| m.abs() < 1e-5));
        assert!(z.std.iter().all(|s| (s - 1.0).abs() < 1e-5));
        assert!((z.min + 1.0).abs() < 1e-5 && (z.max - 1.0).abs() < 1e-5);
        assert!(!z.far_from_unit_scale());
        assert_eq!(sum.shifted_subcarriers(&sum.normalisation()), 0);
    }

    #[test]
    fn constant_subcarriers_are_centred_not_blown_up() {
        let mut st = InputStats::default();
        st.add(&window(|s, _| if s == 0 { 0.0 } else { 5.0 }));
        let n = st.summary().unwrap().normalisation();
        assert_eq!(n.std[0], STD_FLOOR);
        assert_eq!(n.mean[3], 5.0);
    }

    #[test]
    fn a_shift_is_counted_per_subcarrier() {
        let mut st = InputStats::default();
        st.add(&window(
            |s, f| if s < 20 { 10.0 + f as f32 } else { f as f32 },
        ));
        let sum = st.summary().unwrap();
        let mut model = sum.normalisation();
        for s in 0..20 {
            model.mean[s] -= 3.0 * model.std[s];
        }
        assert_eq!(sum.shifted_subcarriers(&model), 20);
        assert_eq!(median(&[3.0, 1.0, 2.0, 4.0]), 2.5);
    }
}
