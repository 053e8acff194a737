//! Two models on the same windows: each one's numbers with their intervals, and what the pairing adds,
//! namely tests of the difference that use the fact that both models saw exactly the same windows.
//!
//! - **McNemar's exact test** on the windows where exactly one model is right: the textbook paired test,
//!   which takes windows as independent (they are not; it is shown, not trusted alone).
//! - **A paired block bootstrap** of the differences in accuracy, within ±1 and MAE: the same resamples
//!   for both models (so their shared difficulty cancels), with blocks from the autocorrelation of the
//!   per-window differences themselves (the rule of [`super::uncertainty`]).
//! - **The verdict.** One model is *better* when the bootstrap's 95 % interval of the accuracy difference
//!   excludes 0. When it does not, the `difference-not-significant` finding says so, and when McNemar's
//!   p-value alone would have called the difference significant, the finding says why it is not trusted.

use super::findings::{Finding, FindingCode, Severity};
use super::metrics::Metrics;
use super::uncertainty::{
    block_rule_of, drawn, mcnemar_exact, percentile_95, BlockRule, Interval, Prefix, Resampler,
    Scores, Uncertainty, RESAMPLES, SEED,
};
use crate::replay::FramePrediction;
use crate::N_CLASSES;
use serde::Serialize;

/// Why two replays cannot be compared window by window.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CompareError {
    /// Different numbers of recordings.
    #[error("model A replayed {a} recording(s) and model B {b}: a comparison needs the same ones")]
    RecordingCount {
        /// A's recordings.
        a: usize,
        /// B's.
        b: usize,
    },
    /// The two replays of one recording produced different windows.
    #[error("{recording}: model A got {a} window(s) and model B {b} (from line {line} on they differ): both must replay the same windows, with the same layout and options")]
    Misaligned {
        /// The recording's name.
        recording: String,
        /// A's windows.
        a: usize,
        /// B's windows.
        b: usize,
        /// The first line where they differ.
        line: u64,
    },
}

/// Which model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The first `--model`.
    A,
    /// The second.
    B,
}

/// One model's side of the comparison: its pooled numbers and their intervals (the same as its own
/// report's for one recording).
#[derive(Clone, Debug, Serialize)]
pub struct ModelSide {
    /// The model's name (its file name).
    pub name: String,
    /// The numbers, over every recording's windows pooled.
    pub metrics: Metrics,
    /// Their 95 % intervals.
    pub uncertainty: Option<Uncertainty>,
}

/// A difference A − B, with its paired 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Difference {
    /// A's value minus B's.
    pub a_minus_b: f64,
    /// The paired block bootstrap's 95 % interval of it.
    pub interval: Interval,
    /// Whether the interval excludes 0.
    pub significant: bool,
}

impl Difference {
    fn new(a_minus_b: f64, interval: Interval) -> Self {
        Difference {
            a_minus_b,
            interval,
            significant: !interval.contains(0.0),
        }
    }
}

/// The paired tests on the labelled windows both models saw.
#[derive(Clone, Debug, Serialize)]
pub struct Paired {
    /// Labelled windows compared.
    pub windows: u64,
    /// Both exactly right.
    pub both_right: u64,
    /// Only A exactly right.
    pub only_a_right: u64,
    /// Only B exactly right.
    pub only_b_right: u64,
    /// Both wrong.
    pub both_wrong: u64,
    /// McNemar's exact two-sided p-value (assumes independent windows).
    pub mcnemar_p: f64,
    /// Accuracy, A − B (positive: A is right more often).
    pub accuracy: Difference,
    /// Within ±1, A − B.
    pub within_pm1: Difference,
    /// MAE, A − B (negative: A errs less).
    pub mae: Difference,
    /// Per recording: the blocks the paired resamples used.
    pub blocks: Vec<BlockRule>,
    /// In words.
    pub description: String,
}

/// One true class, both models.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassDifference {
    /// The class (person count).
    pub class: u8,
    /// Labelled windows of this class.
    pub support: u64,
    /// Of those, right by A.
    pub a_correct: u64,
    /// Right by B.
    pub b_correct: u64,
    /// A's accuracy minus B's on this class (`None` without support).
    pub difference: Option<f64>,
}

/// Two models compared on the same recordings.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Model A, then model B.
    pub models: [ModelSide; 2],
    /// Windows replayed (the same for both).
    pub windows: u64,
    /// Windows where the two counts differ (labelled or not).
    pub disagreements: u64,
    /// The paired tests (`null` without a labelled window).
    pub paired: Option<Paired>,
    /// Per true class.
    pub per_class: Vec<ClassDifference>,
    /// `agreement[a][b]`: windows A counted `a` and B counted `b` (all windows).
    pub agreement: [[u64; N_CLASSES]; N_CLASSES],
    /// The better model when the accuracy difference is significant.
    pub better: Option<Side>,
    /// The honest read.
    pub findings: Vec<Finding>,
}

impl Comparison {
    /// Compare A's and B's predictions of the same recordings (`names`), recording by recording.
    pub fn build(
        names: [&str; 2],
        recordings: &[&str],
        a: &[&[FramePrediction]],
        b: &[&[FramePrediction]],
    ) -> Result<Self, CompareError> {
        if a.len() != b.len() {
            return Err(CompareError::RecordingCount {
                a: a.len(),
                b: b.len(),
            });
        }
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            let differs = x
                .iter()
                .zip(y.iter())
                .find(|(p, q)| p.line != q.line || p.truth != q.truth)
                .map(|(p, _)| p.line);
            if x.len() != y.len() || differs.is_some() {
                return Err(CompareError::Misaligned {
                    recording: recordings.get(i).copied().unwrap_or("?").to_string(),
                    a: x.len(),
                    b: y.len(),
                    line: differs.unwrap_or_else(|| {
                        x.get(x.len().min(y.len()))
                            .or(y.get(x.len().min(y.len())))
                            .map_or(0, |p| p.line)
                    }),
                });
            }
        }
        let pooled =
            |r: &[&[FramePrediction]]| r.iter().flat_map(|p| p.iter()).cloned().collect::<Vec<_>>();
        let (all_a, all_b) = (pooled(a), pooled(b));
        let side = |name: &str, recs: &[&[FramePrediction]], all: &[FramePrediction]| {
            let metrics = Metrics::compute(all);
            let uncertainty = Uncertainty::of(&Scores::new(recs), metrics.spearman.is_some());
            ModelSide {
                name: name.to_string(),
                metrics,
                uncertainty,
            }
        };
        let models = [side(names[0], a, &all_a), side(names[1], b, &all_b)];
        let mut agreement = [[0u64; N_CLASSES]; N_CLASSES];
        let mut correct = [[0u64; 2]; N_CLASSES];
        let mut support = [0u64; N_CLASSES];
        for (p, q) in all_a.iter().zip(&all_b) {
            agreement[p.count as usize][q.count as usize] += 1;
            if let Some(t) = p.truth {
                support[t as usize] += 1;
                correct[t as usize][0] += (p.count == t) as u64;
                correct[t as usize][1] += (q.count == t) as u64;
            }
        }
        let per_class = (0..N_CLASSES)
            .filter(|&c| support[c] > 0)
            .map(|c| ClassDifference {
                class: c as u8,
                support: support[c],
                a_correct: correct[c][0],
                b_correct: correct[c][1],
                difference: Some((correct[c][0] as f64 - correct[c][1] as f64) / support[c] as f64),
            })
            .collect();
        let paired = paired(&Scores::new(a), &Scores::new(b), &models);
        let better = paired.as_ref().and_then(|p| {
            let side = if p.accuracy.a_minus_b > 0.0 {
                Side::A
            } else {
                Side::B
            };
            p.accuracy.significant.then_some(side)
        });
        let findings = findings(&models, paired.as_ref(), better);
        Ok(Comparison {
            windows: all_a.len() as u64,
            disagreements: all_a
                .iter()
                .zip(&all_b)
                .filter(|(p, q)| p.count != q.count)
                .count() as u64,
            models,
            paired,
            per_class,
            agreement,
            better,
            findings,
        })
    }
}

/// The paired tests (see the module docs), `None` without a labelled window.
fn paired(a: &Scores, b: &Scores, models: &[ModelSide; 2]) -> Option<Paired> {
    let n = a.windows();
    if n == 0 {
        return None;
    }
    let (mut both_right, mut only_a, mut only_b) = (0u64, 0u64, 0u64);
    for (x, y) in a.exact.iter().zip(&b.exact) {
        match (*x == 1.0, *y == 1.0) {
            (true, true) => both_right += 1,
            (true, false) => only_a += 1,
            (false, true) => only_b += 1,
            _ => {}
        }
    }
    // The statistics are means of per-window differences, so the blocks follow the dependence of the
    // differences (the slowest of the three), recording by recording.
    let differences: [Vec<f64>; 3] = [
        (&a.exact, &b.exact),
        (&a.near, &b.near),
        (&a.abs_err, &b.abs_err),
    ]
    .map(|(x, y)| x.iter().zip(y).map(|(u, v)| u - v).collect());
    let mut at = 0;
    let blocks: Vec<BlockRule> = a
        .lens
        .iter()
        .map(|&len| {
            let r = at..at + len;
            at += len;
            block_rule_of(&differences.each_ref().map(|d| &d[r.clone()]))
        })
        .collect();
    let prefix = differences
        .each_ref()
        .map(|d| Prefix::new(d.iter().copied()));
    let mut values: [Vec<f64>; 3] = Default::default();
    Resampler::new(
        &a.lens,
        &blocks.iter().map(|b| b.block).collect::<Vec<_>>(),
        RESAMPLES,
        SEED,
    )
    .for_each(|pieces| {
        let k = drawn(pieces);
        for (v, p) in values.iter_mut().zip(&prefix) {
            v.push(p.sum(pieces) / k);
        }
    });
    // Differences are defined on every resample, so each has its interval.
    let [acc, near, mae] = values.map(|v| {
        percentile_95(v, RESAMPLES).unwrap_or(Interval {
            low: 0.0,
            high: 0.0,
        })
    });
    let (ma, mb) = (&models[0].metrics, &models[1].metrics);
    let d = |x: Option<f64>, y: Option<f64>| x.zip(y).map_or(0.0, |(x, y)| x - y);
    let effective: f64 = blocks.iter().map(|b| b.effective_windows).sum();
    Some(Paired {
        windows: n as u64,
        both_right,
        only_a_right: only_a,
        only_b_right: only_b,
        both_wrong: n as u64 - both_right - only_a - only_b,
        mcnemar_p: mcnemar_exact(only_a, only_b),
        accuracy: Difference::new(d(ma.accuracy, mb.accuracy), acc),
        within_pm1: Difference::new(d(ma.within_pm1, mb.within_pm1), near),
        mae: Difference::new(d(ma.mae, mb.mae), mae),
        description: format!(
            "paired moving-block bootstrap, {RESAMPLES} resamples, the same windows for both models, blocks of {} windows; the {n} labelled windows are worth about {effective:.0} independent ones",
            blocks
                .iter()
                .map(|b| b.block.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        blocks,
    })
}

fn pct(x: f64) -> String {
    format!("{:+.1} points", x * 100.0)
}

/// The honest read of a comparison.
fn findings(
    models: &[ModelSide; 2],
    paired: Option<&Paired>,
    better: Option<Side>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(p) = paired else {
        out.push(Finding {
            code: FindingCode::NoLabels,
            severity: Severity::Info,
            message: "no window has ground truth: the models' predictions are compared, not their accuracy".into(),
        });
        return out;
    };
    let name = |s: Side| &models[if s == Side::A { 0 } else { 1 }].name;
    let acc = p.accuracy;
    match better {
        Some(side) => out.push(Finding {
            code: FindingCode::DifferenceSignificant,
            severity: Severity::Info,
            message: format!(
                "{} is better: accuracy A − B = {} (95 % interval {} to {}), McNemar's exact p = {:.2e} ({} windows right only by A, {} only by B)",
                name(side),
                pct(acc.a_minus_b),
                pct(acc.interval.low),
                pct(acc.interval.high),
                p.mcnemar_p,
                p.only_a_right,
                p.only_b_right
            ),
        }),
        None => {
            let mcnemar = if p.mcnemar_p < 0.05 {
                format!(
                    "; McNemar's exact p = {:.2e} would call it significant, but it takes the {} windows as independent, and they are worth about {:.0}",
                    p.mcnemar_p,
                    p.windows,
                    p.blocks.iter().map(|b| b.effective_windows).sum::<f64>()
                )
            } else {
                format!("; McNemar's exact p = {:.3}", p.mcnemar_p)
            };
            out.push(Finding {
                code: FindingCode::DifferenceNotSignificant,
                severity: Severity::Warning,
                message: format!(
                    "the difference is not significant at 95 %: accuracy A − B = {}, 95 % interval {} to {} includes 0{mcnemar}; these recordings cannot tell {} from {}",
                    pct(acc.a_minus_b),
                    pct(acc.interval.low),
                    pct(acc.interval.high),
                    models[0].name,
                    models[1].name
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::Rng;

    fn prediction(line: u64, truth: u8, count: u8) -> FramePrediction {
        FramePrediction {
            line,
            truth: Some(truth),
            count,
            correct: Some(truth == count),
            confidence: 0.5,
            ..Default::default()
        }
    }

    /// A recording of slowly changing occupancy, and a model right with probability `p` per stretch.
    fn replay(truths: &[u8], p: f64, seed: u64) -> Vec<FramePrediction> {
        let mut rng = Rng::new(seed, 0);
        let mut right = true;
        truths
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                if i % 10 == 0 {
                    right = rng.chance(p);
                }
                prediction(i as u64 + 1, t, if right { t } else { (t + 1) % 8 })
            })
            .collect()
    }

    #[test]
    fn a_model_against_itself_differs_in_nothing() {
        let truths: Vec<u8> = (0..600).map(|i| (i / 50 % 4) as u8).collect();
        let a = replay(&truths, 0.7, 1);
        let c = Comparison::build(["a", "a"], &["r"], &[&a], &[&a]).unwrap();
        let p = c.paired.as_ref().unwrap();
        assert_eq!(p.mcnemar_p, 1.0);
        assert_eq!(p.accuracy.a_minus_b, 0.0);
        assert!(p.accuracy.interval.contains(0.0) && !p.accuracy.significant);
        assert_eq!(c.better, None);
        assert_eq!(c.disagreements, 0);
        assert_eq!(c.findings[0].code, FindingCode::DifferenceNotSignificant);
    }

    #[test]
    fn a_clearly_better_model_is_named_and_a_slightly_better_one_is_not() {
        let truths: Vec<u8> = (0..3000).map(|i| (i / 120 % 5) as u8).collect();
        let good = replay(&truths, 0.9, 2);
        let bad = replay(&truths, 0.4, 3);
        let c = Comparison::build(["good", "bad"], &["r"], &[&good], &[&bad]).unwrap();
        assert_eq!(c.better, Some(Side::A), "{:?}", c.paired);
        assert_eq!(c.findings[0].code, FindingCode::DifferenceSignificant);
        let c = Comparison::build(["bad", "good"], &["r"], &[&bad], &[&good]).unwrap();
        assert_eq!(c.better, Some(Side::B));
        // Two models of the same quality: no verdict.
        let twin = replay(&truths, 0.9, 4);
        let c = Comparison::build(["good", "twin"], &["r"], &[&good], &[&twin]).unwrap();
        assert_eq!(c.better, None, "{:?}", c.paired);
        // Per class and the agreement matrix add up.
        assert_eq!(c.agreement.iter().flatten().sum::<u64>(), 3000);
        assert_eq!(c.per_class.iter().map(|k| k.support).sum::<u64>(), 3000);
    }

    #[test]
    fn misaligned_replays_are_refused_with_where() {
        let truths: Vec<u8> = (0..50).map(|i| (i / 10) as u8).collect();
        let a = replay(&truths, 0.7, 1);
        let e = Comparison::build(["a", "b"], &["rec.jsonl"], &[&a], &[&a[..40]]).unwrap_err();
        assert_eq!(
            e,
            CompareError::Misaligned {
                recording: "rec.jsonl".into(),
                a: 50,
                b: 40,
                line: 41
            }
        );
        assert!(e.to_string().contains("rec.jsonl"));
    }
}
