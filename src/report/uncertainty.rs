//! How sure a number is: 95 % intervals by a circular moving-block bootstrap over the windows in
//! recording order.
//!
//! Consecutive windows are not independent samples: the same people stand in the same room for minutes,
//! so a model right on one window is very likely right on the next. A binomial interval on 215 windows
//! treats them as 215 coin flips and is far too narrow. The block bootstrap resamples whole runs of
//! consecutive windows, so the dependence within a block survives into every resample.
//!
//! - **Block length.** From the per-window series itself: its integrated autocorrelation time
//!   τ = 1 + 2 Σ ρ_k, summed over the lags while the sample autocorrelation ρ_k stays positive (the
//!   initial positive sequence), at most a quarter of the series. Blocks are ⌈2τ⌉ windows long, never
//!   shorter than ⌈n^⅓⌉ (the classic rate, a floor for series with no visible dependence) and never
//!   longer than n / 2. The effective number of independent windows is n / τ.
//! - **Resampling.** Circular blocks (a block may wrap from the last window to the first, so every window
//!   is equally likely to be drawn), ⌈n / b⌉ of them, the last cut to make n windows. The same blocks are
//!   drawn for every series handed in together, so paired quantities keep their pairing.
//! - **Interval.** The 2.5 % and 97.5 % quantiles of [`RESAMPLES`] resampled means (percentile method).
//! - **Seed.** Fixed ([`SEED`]) and drawn from the simulator's portable generator, and all arithmetic is
//!   plain `f64` in a fixed order: the same input gives the same interval natively, under wasmtime and in
//!   the browser.

use crate::sim::rng::Rng;
use serde::Serialize;

/// Resamples per interval.
pub const RESAMPLES: usize = 2000;

/// The bootstrap's seed: fixed, so an interval is a function of its input.
pub const SEED: u64 = 0x0C05_C09E_B007;

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
}

/// How the windows were resampled, and how many independent windows they are worth.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BlockRule {
    /// Windows per block.
    pub block: usize,
    /// Integrated autocorrelation time, in windows (1 for independent windows).
    pub tau: f64,
    /// Windows / τ: how many independent windows the series is worth.
    pub effective_windows: f64,
}

/// The block rule for a per-window series (see the module docs).
pub fn block_rule(x: &[f64]) -> BlockRule {
    let n = x.len();
    let tau = autocorrelation_time(x);
    let floor = (n as f64).cbrt().ceil() as usize;
    let block = ((2.0 * tau).ceil() as usize)
        .max(floor)
        .min((n / 2).max(1))
        .max(1);
    BlockRule {
        block,
        tau,
        effective_windows: n as f64 / tau,
    }
}

/// τ = 1 + 2 Σ ρ_k over the initial positive sequence of sample autocorrelations (lags ≤ n / 4); 1 for a
/// constant or too short series.
fn autocorrelation_time(x: &[f64]) -> f64 {
    let n = x.len();
    if n < 4 {
        return 1.0;
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>();
    if var <= 0.0 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=n / 4 {
        let c: f64 = (0..n - k).map(|i| (x[i] - mean) * (x[i + k] - mean)).sum();
        let rho = c / var;
        if rho <= 0.0 {
            break;
        }
        sum += rho;
    }
    (1.0 + 2.0 * sum).max(1.0)
}

/// Circular moving-block bootstrap of the means of `series` (per-window values in recording order, all
/// of one length), the same blocks for every series: one 95 % interval per series, `None` for an empty
/// series. `block` windows per block, `resamples` resamples, drawn from `seed`.
pub fn bootstrap_means(
    series: &[&[f64]],
    block: usize,
    resamples: usize,
    seed: u64,
) -> Vec<Option<Interval>> {
    let n = series.first().map_or(0, |s| s.len());
    if n == 0 || resamples == 0 || series.iter().any(|s| s.len() != n) {
        return vec![None; series.len()];
    }
    let block = block.clamp(1, n);
    // Prefix sums over the series twice over, so a block that wraps is one difference.
    let prefix: Vec<Vec<f64>> = series
        .iter()
        .map(|s| {
            let mut p = Vec::with_capacity(2 * n + 1);
            p.push(0.0);
            for i in 0..2 * n {
                p.push(p[i] + s[i % n]);
            }
            p
        })
        .collect();
    let mut rng = Rng::new(seed, 0);
    let mut means: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); series.len()];
    let mut totals = vec![0.0; series.len()];
    for _ in 0..resamples {
        totals.iter_mut().for_each(|t| *t = 0.0);
        let mut left = n;
        while left > 0 {
            let len = block.min(left);
            let start = (rng.next_u64() % n as u64) as usize;
            for (t, p) in totals.iter_mut().zip(&prefix) {
                *t += p[start + len] - p[start];
            }
            left -= len;
        }
        for (m, t) in means.iter_mut().zip(&totals) {
            m.push(t / n as f64);
        }
    }
    means.into_iter().map(|m| Some(percentile_95(m))).collect()
}

/// The 2.5 % and 97.5 % quantiles (nearest rank) of `values`.
fn percentile_95(mut values: Vec<f64>) -> Interval {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let k = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
        values[k - 1]
    };
    Interval {
        low: at(0.025),
        high: at(0.975),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
