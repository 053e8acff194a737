//! How sure a number is: 95 % intervals by a circular moving-block bootstrap over the windows in
//! recording order.
//!
//! Consecutive windows are not independent samples: the same people stand in the same room for minutes,
//! so a model right on one window is very likely right on the next. A binomial interval on 215 windows
//! treats them as 215 coin flips and is far too narrow. The block bootstrap resamples whole runs of
//! consecutive windows, so the dependence within a block survives into every resample.
//!
//! - **Which windows.** The labelled ones, in recording order (an unlabelled window scores nothing).
//! - **Block length.** Per recording, from its per-window series (right or wrong, within ±1 or not, the
//!   absolute error): each series' integrated autocorrelation time τ = 1 + 2 Σ ρ_k, summed over the lags
//!   while the sample autocorrelation ρ_k stays positive (the initial positive sequence), at most a
//!   quarter of the series and at most [`MAX_LAG`]; the largest τ of the three is the recording's. Blocks
//!   are ⌈2τ⌉ windows long, never shorter than ⌈n^⅓⌉ (the classic rate, a floor for series with no
//!   visible dependence) and never longer than n / 2. The effective number of independent windows is
//!   n / τ, summed over recordings.
//! - **Resampling.** Circular blocks within each recording (a block may wrap from its last window to its
//!   first, so every window is equally likely to be drawn, and no block spans two recordings), ⌈n / b⌉ of
//!   them, the last cut to make n windows. When several recordings are pooled, each resample first draws
//!   as many recordings as there are, with replacement and as wholes (rooms and sessions differ more than
//!   windows do), then blocks within each drawn one. Every quantity of one report or comparison is
//!   computed on the same resamples, so paired quantities keep their pairing.
//! - **Interval.** The 2.5 % and 97.5 % quantiles (nearest rank) of [`RESAMPLES`] resampled values
//!   (percentile method). Spearman's ρ and the ECE are recomputed on each resample (ranks and bins
//!   included), not averaged per window. A statistic undefined on more than 5 % of the resamples (ρ when a
//!   resample is all right) gets no interval.
//! - **Seed.** Fixed ([`SEED`]) and drawn from the simulator's portable generator, and all arithmetic is
//!   plain `f64` in a fixed order: the same input gives the same interval natively, under wasmtime and in
//!   the browser.

use super::metrics::ECE_BINS;
use crate::sim::rng::Rng;
use serde::{Serialize, Serializer};

/// Resamples per interval.
pub const RESAMPLES: usize = 2000;

/// The bootstrap's seed: fixed, so an interval is a function of its input.
pub const SEED: u64 = 0x0C05_C09E_B007;

/// The longest lag the autocorrelation is summed to. It bounds the work (n × lags) on a day of windows;
/// a series still correlated at this lag gets blocks of at least 2 × this many windows anyway.
pub const MAX_LAG: usize = 1000;

/// A statistic undefined on more than this share of resamples gets no interval.
const MAX_UNDEFINED: f64 = 0.05;

/// A 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// 2.5 % quantile.
    pub low: f64,
    /// 97.5 % quantile.
    pub high: f64,
}

impl Interval {
    /// Whether `x` lies inside (ends included).
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }

    /// `high - low`.
    pub fn width(&self) -> f64 {
        self.high - self.low
    }

    /// Whether the interval lies on both sides of `x` (ends excluded): the data cannot tell which side
    /// the true value is on.
    pub fn straddles(&self, x: f64) -> bool {
        self.low < x && x < self.high
    }
}

/// How one recording's windows were resampled, and how many independent windows they are worth.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BlockRule {
    /// Labelled windows in the recording.
    pub windows: usize,
    /// Windows per block.
    pub block: usize,
    /// Integrated autocorrelation time, in windows (1 for independent windows).
    pub tau: f64,
    /// Windows / τ: how many independent windows the series is worth.
    pub effective_windows: f64,
}

/// The block rule for a per-window series (see the module docs).
pub fn block_rule(x: &[f64]) -> BlockRule {
    block_rule_of(&[x])
}

/// The block rule for several per-window series of the same windows: the largest τ decides.
pub fn block_rule_of(series: &[&[f64]]) -> BlockRule {
    let n = series.first().map_or(0, |s| s.len());
    let tau = series
        .iter()
        .map(|s| autocorrelation_time(s))
        .fold(1.0, f64::max);
    let floor = (n as f64).cbrt().ceil() as usize;
    let block = ((2.0 * tau).ceil() as usize)
        .max(floor)
        .min((n / 2).max(1))
        .max(1);
    BlockRule {
        windows: n,
        block,
        tau,
        effective_windows: n as f64 / tau,
    }
}

/// τ = 1 + 2 Σ ρ_k over the initial positive sequence of sample autocorrelations (lags ≤ n / 4 and ≤
/// [`MAX_LAG`]); 1 for a constant or too short series.
fn autocorrelation_time(x: &[f64]) -> f64 {
    let n = x.len();
    if n < 4 {
        return 1.0;
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let centred: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let var = centred.iter().map(|v| v * v).sum::<f64>();
    if var <= 0.0 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=(n / 4).min(MAX_LAG) {
        let c: f64 = centred[..n - k]
            .iter()
            .zip(&centred[k..])
            .map(|(a, b)| a * b)
            .sum();
        let rho = c / var;
        if rho <= 0.0 {
            break;
        }
        sum += rho;
    }
    (1.0 + 2.0 * sum).max(1.0)
}

/// Draws the resamples: recordings as wholes, then circular blocks within each (see the module docs).
/// Windows are numbered globally, recording after recording.
#[derive(Clone, Debug)]
pub struct Resampler {
    /// Where each recording's windows start, and the total at the end.
    offsets: Vec<usize>,
    /// Block length per recording.
    blocks: Vec<usize>,
    resamples: usize,
    seed: u64,
}

/// A run of consecutive windows drawn into a resample: `(first window, windows)`.
pub type Piece = (usize, usize);

impl Resampler {
    /// Recordings of `lens` windows, resampled in blocks of `blocks` windows.
    pub fn new(lens: &[usize], blocks: &[usize], resamples: usize, seed: u64) -> Self {
        let mut offsets = vec![0];
        for &n in lens {
            offsets.push(offsets[offsets.len() - 1] + n);
        }
        Resampler {
            offsets,
            blocks: lens
                .iter()
                .zip(blocks)
                .map(|(&n, &b)| b.clamp(1, n.max(1)))
                .collect(),
            resamples,
            seed,
        }
    }

    /// Windows in all recordings.
    pub fn windows(&self) -> usize {
        self.offsets[self.offsets.len() - 1]
    }

    /// Call `f` with each resample's pieces, in order. Nothing is drawn when there are no windows.
    pub fn for_each(&self, mut f: impl FnMut(&[Piece])) {
        let recordings = self.blocks.len();
        if self.windows() == 0 || recordings == 0 {
            return;
        }
        let mut rng = Rng::new(self.seed, 0);
        let mut pieces = Vec::new();
        for _ in 0..self.resamples {
            pieces.clear();
            for i in 0..recordings {
                let r = if recordings == 1 {
                    i
                } else {
                    (rng.next_u64() % recordings as u64) as usize
                };
                let (offset, n, block) = (
                    self.offsets[r],
                    self.offsets[r + 1] - self.offsets[r],
                    self.blocks[r],
                );
                let mut left = n;
                while left > 0 {
                    let len = block.min(left);
                    let start = (rng.next_u64() % n as u64) as usize;
                    if start + len <= n {
                        pieces.push((offset + start, len));
                    } else {
                        pieces.push((offset + start, n - start));
                        pieces.push((offset, start + len - n));
                    }
                    left -= len;
                }
            }
            f(&pieces);
        }
    }
}

/// Prefix sums of a per-window series, so that a piece's sum is one difference.
pub(crate) struct Prefix(Vec<f64>);

impl Prefix {
    pub(crate) fn new(x: impl IntoIterator<Item = f64>) -> Self {
        let mut p = vec![0.0];
        for v in x {
            p.push(p[p.len() - 1] + v);
        }
        Prefix(p)
    }

    pub(crate) fn sum(&self, pieces: &[Piece]) -> f64 {
        pieces
            .iter()
            .map(|&(s, len)| self.0[s + len] - self.0[s])
            .sum()
    }
}

/// Windows per piece, summed.
pub(crate) fn drawn(pieces: &[Piece]) -> f64 {
    pieces.iter().map(|&(_, len)| len as f64).sum()
}

/// The 2.5 % and 97.5 % quantiles (nearest rank) of `values`, `None` when more than [`MAX_UNDEFINED`]
/// of `total` resamples gave no value.
pub(crate) fn percentile_95(mut values: Vec<f64>, total: usize) -> Option<Interval> {
    if values.is_empty() || ((total - values.len()) as f64) > MAX_UNDEFINED * total as f64 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let k = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
        values[k - 1]
    };
    Some(Interval {
        low: at(0.025),
        high: at(0.975),
    })
}

/// Circular moving-block bootstrap of the means of `series` (per-window values in recording order, all
/// of one length, one recording), the same blocks for every series: one 95 % interval per series, `None`
/// for an empty series. `block` windows per block, `resamples` resamples, drawn from `seed`.
pub fn bootstrap_means(
    series: &[&[f64]],
    block: usize,
    resamples: usize,
    seed: u64,
) -> Vec<Option<Interval>> {
    let n = series.first().map_or(0, |s| s.len());
    if n == 0 || series.iter().any(|s| s.len() != n) {
        return vec![None; series.len()];
    }
    let prefix: Vec<Prefix> = series
        .iter()
        .map(|s| Prefix::new(s.iter().copied()))
        .collect();
    let mut means = vec![Vec::with_capacity(resamples); series.len()];
    Resampler::new(&[n], &[block], resamples, seed).for_each(|pieces| {
        let k = drawn(pieces);
        for (m, p) in means.iter_mut().zip(&prefix) {
            m.push(p.sum(pieces) / k);
        }
    });
    means
        .into_iter()
        .map(|m| percentile_95(m, resamples))
        .collect()
}

/// The textbook binomial (Wald) 95 % interval for a rate, which assumes independent windows: what the
/// block bootstrap is measured against.
pub fn naive_binomial(successes: usize, n: usize) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let p = successes as f64 / n as f64;
    let half = 1.96 * (p * (1.0 - p) / n as f64).sqrt();
    Some(Interval {
        low: p - half,
        high: p + half,
    })
}

/// One model's per-window scores over the labelled windows, recording after recording: what every
/// interval is computed from.
#[derive(Clone, Debug)]
pub struct Scores {
    /// 1 when the count is exact, else 0.
    pub exact: Vec<f64>,
    /// 1 when |count − truth| ≤ 1, else 0.
    pub near: Vec<f64>,
    /// |count − truth|.
    pub abs_err: Vec<f64>,
    /// The calibrated confidence.
    pub confidence: Vec<f64>,
    /// Labelled windows per recording.
    pub lens: Vec<usize>,
}

impl Scores {
    /// The labelled windows of each recording's predictions.
    pub fn new<P: super::metrics::Scored>(recordings: &[&[P]]) -> Self {
        let mut s = Scores {
            exact: Vec::new(),
            near: Vec::new(),
            abs_err: Vec::new(),
            confidence: Vec::new(),
            lens: Vec::new(),
        };
        for r in recordings {
            let before = s.exact.len();
            for p in r.iter() {
                let Some(t) = p.truth() else { continue };
                let diff = (t as i64 - p.count() as i64).unsigned_abs() as f64;
                s.exact.push((diff == 0.0) as u8 as f64);
                s.near.push((diff <= 1.0) as u8 as f64);
                s.abs_err.push(diff);
                s.confidence.push(p.confidence() as f64);
            }
            s.lens.push(s.exact.len() - before);
        }
        s
    }

    /// Labelled windows in all recordings.
    pub fn windows(&self) -> usize {
        self.exact.len()
    }

    /// The three per-window series the block rule looks at.
    fn series(&self) -> [&[f64]; 3] {
        [&self.exact, &self.near, &self.abs_err]
    }

    /// Each recording's windows of `x`.
    fn split<'a>(&self, x: &'a [f64]) -> Vec<&'a [f64]> {
        let mut at = 0;
        self.lens
            .iter()
            .map(|&n| {
                at += n;
                &x[at - n..at]
            })
            .collect()
    }
}

/// The statistics of one model, recomputed on a resample.
struct Statistics<'a> {
    scores: &'a Scores,
    exact: Prefix,
    near: Prefix,
    abs_err: Prefix,
    brier: Prefix,
    /// Per confidence bin: Σ (correct − confidence) of the windows in it.
    gap: Vec<Prefix>,
    /// Windows in ascending confidence order, and where each run of equal confidences ends (for ranks).
    order: Vec<u32>,
    tie_ends: Vec<u32>,
    /// Per window in that order: all ones when right, 0 when wrong (a mask for its weight).
    right_sorted: Vec<u32>,
    /// Whether ρ is defined at all on the full sample (else it is not resampled).
    rank: bool,
}

/// The headline numbers of one resample, `None` where undefined.
#[derive(Clone, Copy, Debug, Default)]
struct Resampled {
    accuracy: Option<f64>,
    within_pm1: Option<f64>,
    mae: Option<f64>,
    spearman: Option<f64>,
    brier: Option<f64>,
    ece: Option<f64>,
}

impl<'a> Statistics<'a> {
    fn new(scores: &'a Scores, rank: bool) -> Self {
        let c = &scores.confidence;
        let bin = |v: f64| ((v * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        let gap = (0..ECE_BINS)
            .map(|b| {
                Prefix::new(
                    scores
                        .exact
                        .iter()
                        .zip(c)
                        .map(|(&k, &v)| if bin(v) == b { k - v } else { 0.0 }),
                )
            })
            .collect();
        let (mut order, mut tie_ends, mut right_sorted) = (Vec::new(), Vec::new(), Vec::new());
        if rank {
            order = (0..c.len() as u32).collect();
            order.sort_by(|&a, &b| c[a as usize].total_cmp(&c[b as usize]));
            for i in 1..=order.len() {
                if i == order.len() || c[order[i] as usize] != c[order[i - 1] as usize] {
                    tie_ends.push(i as u32);
                }
            }
            right_sorted = order
                .iter()
                .map(|&i| {
                    if scores.exact[i as usize] == 1.0 {
                        u32::MAX
                    } else {
                        0
                    }
                })
                .collect();
        }
        Statistics {
            scores,
            exact: Prefix::new(scores.exact.iter().copied()),
            near: Prefix::new(scores.near.iter().copied()),
            abs_err: Prefix::new(scores.abs_err.iter().copied()),
            brier: Prefix::new(scores.exact.iter().zip(c).map(|(&k, &v)| (v - k) * (v - k))),
            gap,
            order,
            tie_ends,
            right_sorted,
            rank,
        }
    }

    /// The statistics of the resample made of `pieces`; `weights` is scratch space, one per window.
    fn of(&self, pieces: &[Piece], weights: &mut Vec<u32>) -> Resampled {
        let n = drawn(pieces);
        let spearman = self.rank.then(|| self.spearman(pieces, weights)).flatten();
        Resampled {
            accuracy: Some(self.exact.sum(pieces) / n),
            within_pm1: Some(self.near.sum(pieces) / n),
            mae: Some(self.abs_err.sum(pieces) / n),
            spearman,
            brier: Some(self.brier.sum(pieces) / n),
            ece: Some(self.gap.iter().map(|g| g.sum(pieces).abs()).sum::<f64>() / n),
        }
    }

    /// Spearman's ρ(confidence, correct) of a resample, with average ranks over the resampled windows
    /// (each window counted as often as it was drawn): O(windows).
    fn spearman(&self, pieces: &[Piece], weights: &mut Vec<u32>) -> Option<f64> {
        let n_all = self.scores.windows();
        weights.clear();
        weights.resize(n_all + 1, 0);
        // A difference array: +1 where a piece starts, −1 after it ends (wrapping as u32).
        for &(s, len) in pieces {
            weights[s] = weights[s].wrapping_add(1);
            weights[s + len] = weights[s + len].wrapping_sub(1);
        }
        let mut run = 0u32;
        for w in weights.iter_mut() {
            run = run.wrapping_add(*w);
            *w = run;
        }
        // Integer sums (exact, and one-cycle adds): with t = twice a run's average rank,
        // Σ rank·right = Σ t·wk / 2, and Σ (rank − mean)² = ((n³ − n) − Σ (W³ − W)) / 12 over the runs of
        // equal confidence, W windows each (duplicates drawn by the resample are ties too).
        let (mut below, mut s_tk, mut s_k, mut ties) = (0u64, 0u64, 0u64, 0u64);
        let mut j = 0usize;
        for &end in &self.tie_ends {
            let (mut w, mut wk) = (0u64, 0u64);
            while j < end as usize {
                let wi = weights[self.order[j] as usize];
                w += wi as u64;
                wk += (wi & self.right_sorted[j]) as u64;
                j += 1;
            }
            s_tk += wk * (2 * below + w + 1);
            s_k += wk;
            ties += w * w * w - w;
            below += w;
        }
        let n = below as f64;
        let (mean_r, p) = ((n + 1.0) / 2.0, s_k as f64 / n);
        let var_r = ((n * n * n - n) - ties as f64) / (12.0 * n);
        let var_k = p * (1.0 - p);
        let cov = s_tk as f64 / (2.0 * n) - mean_r * p;
        (var_r > 0.0 && var_k > 0.0).then(|| cov / (var_r * var_k).sqrt())
    }
}

/// The seed, written as hex so that JavaScript reads it exactly.
/// The one method every interval is made with (`Uncertainty::method`).
pub const METHOD: &str = "moving-block bootstrap";

fn hex<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

/// 95 % intervals of a report's headline numbers, and how they were made.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Uncertainty {
    /// Always `"moving-block bootstrap"` (the method named in the module docs).
    pub method: &'static str,
    /// Resamples drawn.
    pub resamples: usize,
    /// The generator's seed.
    #[serde(serialize_with = "hex")]
    pub seed: u64,
    /// Per recording: labelled windows, block length, τ and effective windows.
    pub blocks: Vec<BlockRule>,
    /// How many independent windows the labelled ones are worth, all recordings together.
    pub effective_windows: f64,
    /// Accuracy.
    pub accuracy: Option<Interval>,
    /// Accuracy within ±1.
    pub within_pm1: Option<Interval>,
    /// Mean absolute error.
    pub mae: Option<Interval>,
    /// Spearman(confidence, correct).
    pub spearman: Option<Interval>,
    /// Brier score.
    pub brier: Option<Interval>,
    /// Expected calibration error.
    pub ece: Option<Interval>,
    /// In words.
    pub description: String,
}

impl Uncertainty {
    /// The intervals of one model's numbers over its scored windows (all recordings pooled), `None`
    /// without a labelled window. `rank`: whether Spearman's ρ is defined on the whole sample (else it
    /// gets no interval).
    pub fn of(scores: &Scores, rank: bool) -> Option<Self> {
        if scores.windows() == 0 {
            return None;
        }
        let blocks: Vec<BlockRule> = scores
            .lens
            .iter()
            .enumerate()
            .map(|(r, _)| {
                let series = scores.series().map(|s| scores.split(s)[r]);
                block_rule_of(&series)
            })
            .collect();
        let stats = Statistics::new(scores, rank);
        let mut values: [Vec<f64>; 6] = Default::default();
        let mut weights = Vec::new();
        Resampler::new(
            &scores.lens,
            &blocks.iter().map(|b| b.block).collect::<Vec<_>>(),
            RESAMPLES,
            SEED,
        )
        .for_each(|pieces| {
            let r = stats.of(pieces, &mut weights);
            let all = [r.accuracy, r.within_pm1, r.mae, r.spearman, r.brier, r.ece];
            for (v, x) in values.iter_mut().zip(all) {
                v.extend(x);
            }
        });
        let [accuracy, within_pm1, mae, spearman, brier, ece] =
            values.map(|v| percentile_95(v, RESAMPLES));
        let effective_windows = blocks.iter().map(|b| b.effective_windows).sum();
        let description = describe(&blocks, effective_windows);
        Some(Uncertainty {
            method: METHOD,
            resamples: RESAMPLES,
            seed: SEED,
            blocks,
            effective_windows,
            accuracy,
            within_pm1,
            mae,
            spearman,
            brier,
            ece,
            description,
        })
    }

    /// The interval of a gate's metric.
    pub fn of_metric(&self, metric: super::GateMetric) -> Option<Interval> {
        use super::GateMetric::*;
        match metric {
            WithinPm1 => self.within_pm1,
            Mae => self.mae,
            Spearman => self.spearman,
            Accuracy => self.accuracy,
            Ece => self.ece,
            Brier => self.brier,
        }
    }
}

/// The sentence under the numbers.
fn describe(blocks: &[BlockRule], effective: f64) -> String {
    let windows: usize = blocks.iter().map(|b| b.windows).sum();
    let how = match blocks {
        [b] => format!("blocks of {} windows (τ = {:.1})", b.block, b.tau),
        _ => format!(
            "{} recordings resampled as wholes, blocks of {} windows within them",
            blocks.len(),
            blocks
                .iter()
                .map(|b| b.block.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!(
        "95 % intervals: moving-block bootstrap, {RESAMPLES} resamples, {how}; the {windows} labelled windows are worth about {} independent ones",
        fmt_effective(effective)
    )
}

fn fmt_effective(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

/// McNemar's exact test: the two-sided p-value of `b` windows right only by one model and `c` right only
/// by the other, under "either is equally likely" (binomial(b + c, ½)); 1 when they never differ. It
/// takes windows as independent, which consecutive windows are not: read it beside the block interval.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // log P(X = i) by the recurrence, summed with log-sum-exp (2^-n underflows past n ≈ 1074).
    let mut log_p = -(n as f64) * std::f64::consts::LN_2;
    let mut terms = Vec::with_capacity(k as usize + 1);
    for i in 0..=k {
        terms.push(log_p);
        log_p += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln();
    (2.0 * tail.exp()).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::FramePrediction;

    /// A right/wrong series from a two-state Markov chain: stays right with probability `a`, stays wrong
    /// with `c`; started from its stationary distribution, whose rate of right is
    /// (1 - c) / ((1 - a) + (1 - c)).
    fn markov(n: usize, a: f64, c: f64, rng: &mut Rng) -> Vec<f64> {
        let p_right = (1.0 - c) / ((1.0 - a) + (1.0 - c));
        let mut right = rng.chance(p_right);
        (0..n)
            .map(|_| {
                let v = if right { 1.0 } else { 0.0 };
                right = if right { rng.chance(a) } else { !rng.chance(c) };
                v
            })
            .collect()
    }

    #[test]
    fn independent_windows_give_tau_near_one_and_dependent_ones_more() {
        let mut rng = Rng::new(11, 0);
        let coins: Vec<f64> = (0..5000).map(|_| rng.chance(0.5) as u8 as f64).collect();
        let r = block_rule(&coins);
        assert!(r.tau < 1.3, "{r:?}");
        assert_eq!(r.block, 18, "the floor: ⌈5000^⅓⌉");
        // λ = a + c - 1 = 0.9: τ = (1 + λ) / (1 - λ) = 19.
        let sticky = markov(20_000, 0.97, 0.93, &mut rng);
        let r = block_rule(&sticky);
        assert!((14.0..26.0).contains(&r.tau), "{r:?}");
        assert!(r.block >= 28 && r.effective_windows < 1500.0, "{r:?}");
        // Degenerate series: constant, empty, tiny.
        assert_eq!(block_rule(&[1.0; 100]).tau, 1.0);
        assert_eq!(block_rule(&[]).block, 1);
        assert!(bootstrap_means(&[&[]], 5, 100, SEED)[0].is_none());
    }

    #[test]
    fn the_same_input_gives_the_same_interval_and_pairs_stay_paired() {
        let mut rng = Rng::new(3, 0);
        let x = markov(500, 0.95, 0.9, &mut rng);
        let a = bootstrap_means(&[&x, &x], 20, 500, SEED);
        let b = bootstrap_means(&[&x], 20, 500, SEED);
        assert_eq!(a[0], b[0]);
        assert_eq!(a[0], a[1], "the same blocks for every series");
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        assert!(a[0].unwrap().contains(mean));
        // A constant series has a zero-width interval at its value.
        let ones = [1.0; 50];
        assert_eq!(
            bootstrap_means(&[&ones], 7, 200, SEED)[0],
            Some(Interval {
                low: 1.0,
                high: 1.0
            })
        );
    }

    /// The interval's coverage where the truth is known: 200 recordings of 2,000 windows from a
    /// right/wrong process whose true rate is 0.7 and whose runs last tens of windows (τ ≈ 19). The block
    /// bootstrap's 95 % interval should hold 0.7 in about 95 % of them; the binomial interval, which
    /// takes the windows as independent, holds it far less often.
    #[test]
    fn block_intervals_cover_the_true_rate_and_binomial_ones_do_not() {
        let (replicates, n, truth) = (200, 2000, 0.7);
        let mut rng = Rng::new(2026, 7);
        let (mut block_hits, mut naive_hits, mut widths, mut blocks) = (0, 0, 0.0, 0);
        for _ in 0..replicates {
            let x = markov(n, 0.97, 0.93, &mut rng);
            let rule = block_rule(&x);
            blocks += rule.block;
            let iv = bootstrap_means(&[&x], rule.block, RESAMPLES, SEED)[0].unwrap();
            widths += iv.width();
            block_hits += iv.contains(truth) as usize;
            let right = x.iter().filter(|&&v| v == 1.0).count();
            naive_hits += naive_binomial(right, n).unwrap().contains(truth) as usize;
        }
        let (block_cov, naive_cov) = (
            block_hits as f64 / replicates as f64,
            naive_hits as f64 / replicates as f64,
        );
        eprintln!(
            "coverage of the true rate over {replicates} replicates: block bootstrap {:.1} % (mean width {:.3}, mean block {}), binomial {:.1} %",
            100.0 * block_cov,
            widths / replicates as f64,
            blocks / replicates,
            100.0 * naive_cov
        );
        assert!(
            (0.88..=0.99).contains(&block_cov),
            "block bootstrap {block_cov}"
        );
        assert!(naive_cov < 0.6, "binomial {naive_cov}");
    }

    fn prediction(truth: u8, count: u8, confidence: f32) -> FramePrediction {
        FramePrediction {
            truth: Some(truth),
            count,
            correct: Some(truth == count),
            confidence,
            ..Default::default()
        }
    }

    /// On the whole sample (every window drawn once), the resampled statistics are the report's own.
    #[test]
    fn the_statistics_of_the_full_sample_are_the_metrics() {
        let mut rng = Rng::new(5, 1);
        let preds: Vec<FramePrediction> = (0..300)
            .map(|_| {
                let t = rng.int(0, 4) as u8;
                let c = if rng.chance(0.6) {
                    t
                } else {
                    rng.int(0, 4) as u8
                };
                // Coarse confidences, so that ties are exercised.
                prediction(t, c, (rng.int(0, 20) as f32) / 20.0)
            })
            .collect();
        let m = crate::report::Metrics::compute(&preds);
        let scores = Scores::new(&[&preds]);
        let stats = Statistics::new(&scores, true);
        let r = stats.of(&[(0, 300)], &mut Vec::new());
        let close = |a: Option<f64>, b: Option<f64>| (a.unwrap() - b.unwrap()).abs() < 1e-12;
        assert!(close(r.accuracy, m.accuracy));
        assert!(close(r.within_pm1, m.within_pm1));
        assert!(close(r.mae, m.mae));
        assert!(close(r.brier, m.brier));
        assert!(close(r.ece, m.ece), "{:?} {:?}", r.ece, m.ece);
        assert!(
            close(r.spearman, m.spearman),
            "{:?} {:?}",
            r.spearman,
            m.spearman
        );
        let u = Uncertainty::of(&scores, true).unwrap();
        for (iv, v) in [
            (u.accuracy, m.accuracy),
            (u.mae, m.mae),
            (u.spearman, m.spearman),
            (u.ece, m.ece),
        ] {
            let iv = iv.unwrap();
            assert!(iv.width() > 0.0 && iv.contains(v.unwrap()), "{iv:?} {v:?}");
        }
    }

    /// RuView's v0.0.1 held-out tail: 140 windows of 0 then 75 of 1, and a model that always answers 0.
    /// One change of occupancy: the 215 windows are worth about 3 independent ones, and the interval
    /// says so.
    #[test]
    fn the_seed_table_is_worth_a_handful_of_windows() {
        let preds: Vec<FramePrediction> = (0..215)
            .map(|i| prediction(if i < 140 { 0 } else { 1 }, 0, 0.9))
            .collect();
        let u = Uncertainty::of(&Scores::new(&[&preds]), false).unwrap();
        let acc = u.accuracy.unwrap();
        eprintln!(
            "seed table: accuracy 65.1 %, interval {acc:?}, width {:.3}, {:?}",
            acc.width(),
            u.blocks[0]
        );
        assert!(acc.contains(140.0 / 215.0));
        assert!(acc.width() > 0.4, "{acc:?}");
        assert!(u.effective_windows < 10.0, "{}", u.effective_windows);
        let naive = naive_binomial(140, 215).unwrap();
        assert!(naive.width() < 0.15, "{naive:?}");
        assert!(u.spearman.is_none(), "ρ is undefined with one confidence");
    }

    /// Pooled recordings: each has its own block rule, and no piece crosses from one to the next.
    #[test]
    fn pooled_recordings_resample_as_wholes() {
        let lens = [50, 7, 300];
        let r = Resampler::new(&lens, &[10, 3, 20], 300, SEED);
        let bounds = [0, 50, 57, 357];
        let mut resamples = 0;
        r.for_each(|pieces| {
            let mut total = 0;
            for &(s, len) in pieces {
                let rec = bounds.iter().rposition(|&b| b <= s).unwrap();
                assert!(
                    s + len <= bounds[rec + 1],
                    "piece {s}+{len} crosses a recording's end"
                );
                total += len;
            }
            // Three recordings drawn as wholes: the windows add up to three of their lengths.
            let sums: Vec<usize> = (0..27)
                .map(|k| lens[k % 3] + lens[k / 3 % 3] + lens[k / 9])
                .collect();
            assert!(sums.contains(&total), "{total}");
            resamples += 1;
        });
        assert_eq!(resamples, 300);
    }

    #[test]
    fn mcnemar_matches_hand_computed_values() {
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // P(X ≤ 1) for binomial(10, ½) = 11/1024, doubled.
        assert!((mcnemar_exact(1, 9) - 22.0 / 1024.0).abs() < 1e-12);
        assert!((mcnemar_exact(9, 1) - 22.0 / 1024.0).abs() < 1e-12);
        assert_eq!(mcnemar_exact(5000, 5000), 1.0);
        let p = mcnemar_exact(4800, 5200);
        assert!(p > 0.0 && p < 1e-4, "{p}");
    }
}
