//! The numbers: accuracy, within ±1, MAE, per-class accuracy, confusion, rank correlation of confidence
//! with correctness, Brier score, expected calibration error, and the majority-class baseline.
//!
//! Every truth-based number is `None` when no window is labelled: an unlabelled recording is replayed, never
//! scored as if its labels were 0.

use crate::replay::FramePrediction;
use crate::N_CLASSES;
use serde::Serialize;

/// What every number is computed from: a window's truth, predicted count and confidence. A replay's
/// [`FramePrediction`] is one; so is an evaluation's [`crate::evaluate::WindowScore`], which is all an
/// outcome file keeps of a window, so pooled numbers come out the same from either.
pub trait Scored {
    /// Ground truth, `None` when unlabelled.
    fn truth(&self) -> Option<u8>;
    /// The predicted count.
    fn count(&self) -> u8;
    /// The calibrated confidence.
    fn confidence(&self) -> f32;
}

impl Scored for FramePrediction {
    fn truth(&self) -> Option<u8> {
        self.truth
    }
    fn count(&self) -> u8 {
        self.count
    }
    fn confidence(&self) -> f32 {
        self.confidence
    }
}

/// Bins of the expected calibration error and the reliability diagram.
pub const ECE_BINS: usize = 10;

/// Accuracy of one true class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassStats {
    /// The class (person count).
    pub class: u8,
    /// Labelled windows whose truth is this class.
    pub support: u64,
    /// Of those, how many were predicted right.
    pub correct: u64,
    /// `correct / support`, `None` without support.
    pub accuracy: Option<f64>,
    /// How many windows (labelled or not) were predicted as this class.
    pub predicted: u64,
}

/// One bin of the reliability diagram.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReliabilityBin {
    /// Lower edge of the confidence bin.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Labelled windows whose confidence falls in the bin.
    pub count: u64,
    /// Their mean confidence.
    pub mean_confidence: Option<f64>,
    /// Their accuracy.
    pub accuracy: Option<f64>,
}

/// Why Spearman's ρ could not be computed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpearmanUndefined {
    /// No labelled windows.
    NoLabels,
    /// Every labelled window is right, or every one is wrong.
    CorrectnessConstant,
    /// The confidence is the same for every labelled window.
    ConfidenceConstant,
}

impl SpearmanUndefined {
    /// A sentence for reports.
    pub fn explain(&self) -> &'static str {
        match self {
            Self::NoLabels => "no labelled windows",
            Self::CorrectnessConstant => {
                "every labelled window is right, or every one is wrong: correctness is constant"
            }
            Self::ConfidenceConstant => "the confidence is the same for every window",
        }
    }
}

/// The metrics of a replay.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// Windows replayed.
    pub windows: u64,
    /// Of those, windows with a ground-truth label.
    pub labelled_windows: u64,
    /// Share of labelled windows predicted exactly.
    pub accuracy: Option<f64>,
    /// Share of labelled windows with |count − truth| ≤ 1.
    pub within_pm1: Option<f64>,
    /// Mean |count − truth| over labelled windows.
    pub mae: Option<f64>,
    /// Per true class 0–7.
    pub per_class: Vec<ClassStats>,
    /// `confusion[truth][predicted]` over labelled windows.
    pub confusion: [[u64; N_CLASSES]; N_CLASSES],
    /// Spearman's ρ between confidence and correctness (average ranks for ties).
    pub spearman: Option<f64>,
    /// Why `spearman` is `None`.
    pub spearman_undefined: Option<SpearmanUndefined>,
    /// Mean (confidence − correct)² over labelled windows.
    pub brier: Option<f64>,
    /// Expected calibration error of the confidence over [`ECE_BINS`] equal-width bins.
    pub ece: Option<f64>,
    /// The reliability diagram behind `ece`.
    pub reliability: Vec<ReliabilityBin>,
    /// The most frequent true class (lowest on ties).
    pub majority_class: Option<u8>,
    /// The accuracy of always answering `majority_class`.
    pub majority_baseline: Option<f64>,
    /// Smallest and largest true label seen.
    pub label_range: Option<(u8, u8)>,
}

/// Average ranks (1-based), ties sharing the mean of their positions.
pub fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        idx[i..=j].iter().for_each(|&k| ranks[k] = r);
        i = j + 1;
    }
    ranks
}

fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

/// Spearman's ρ of two series, or why it is undefined.
pub fn spearman(confidence: &[f64], correct: &[f64]) -> Result<f64, SpearmanUndefined> {
    if confidence.is_empty() {
        return Err(SpearmanUndefined::NoLabels);
    }
    if correct.iter().all(|&c| c == correct[0]) {
        return Err(SpearmanUndefined::CorrectnessConstant);
    }
    if confidence.iter().all(|&c| c == confidence[0]) {
        return Err(SpearmanUndefined::ConfidenceConstant);
    }
    pearson(&average_ranks(confidence), &average_ranks(correct))
        .ok_or(SpearmanUndefined::ConfidenceConstant)
}

impl<P: Scored> Scored for &P {
    fn truth(&self) -> Option<u8> {
        (*self).truth()
    }
    fn count(&self) -> u8 {
        (*self).count()
    }
    fn confidence(&self) -> f32 {
        (*self).confidence()
    }
}

impl Metrics {
    /// Compute every metric from the predictions of a replay.
    pub fn compute<P: Scored>(predictions: &[P]) -> Self {
        Self::of(predictions)
    }

    /// Compute every metric from any sequence of scored windows, in recording order.
    pub fn of<P: Scored>(predictions: impl IntoIterator<Item = P>) -> Self {
        let mut confusion = [[0u64; N_CLASSES]; N_CLASSES];
        let mut predicted = [0u64; N_CLASSES];
        let (mut conf, mut correct) = (Vec::new(), Vec::new());
        let (mut exact, mut near, mut abs_err) = (0u64, 0u64, 0u64);
        let mut bins = vec![(0u64, 0.0f64, 0u64); ECE_BINS];
        let mut windows = 0u64;
        for p in predictions {
            windows += 1;
            let count = p.count();
            predicted[count as usize] += 1;
            let Some(t) = p.truth() else { continue };
            confusion[t as usize][count as usize] += 1;
            let diff = (t as i64 - count as i64).unsigned_abs();
            let ok = diff == 0;
            exact += ok as u64;
            near += (diff <= 1) as u64;
            abs_err += diff;
            let c = p.confidence() as f64;
            conf.push(c);
            correct.push(if ok { 1.0 } else { 0.0 });
            let b = &mut bins[((c * ECE_BINS as f64) as usize).min(ECE_BINS - 1)];
            *b = (b.0 + 1, b.1 + c, b.2 + ok as u64);
        }
        let n = conf.len() as u64;
        let share = |k: u64| (n > 0).then(|| k as f64 / n as f64);
        let support: Vec<u64> = confusion.iter().map(|row| row.iter().sum()).collect();
        let per_class = (0..N_CLASSES)
            .map(|c| ClassStats {
                class: c as u8,
                support: support[c],
                correct: confusion[c][c],
                accuracy: (support[c] > 0).then(|| confusion[c][c] as f64 / support[c] as f64),
                predicted: predicted[c],
            })
            .collect();
        let majority = (n > 0).then(|| {
            (0..N_CLASSES).fold(
                0,
                |best, c| if support[c] > support[best] { c } else { best },
            )
        });
        let labels: Vec<usize> = (0..N_CLASSES).filter(|&c| support[c] > 0).collect();
        let reliability = bins
            .iter()
            .enumerate()
            .map(|(i, &(k, sum_c, ok))| ReliabilityBin {
                lo: i as f64 / ECE_BINS as f64,
                hi: (i + 1) as f64 / ECE_BINS as f64,
                count: k,
                mean_confidence: (k > 0).then(|| sum_c / k as f64),
                accuracy: (k > 0).then(|| ok as f64 / k as f64),
            })
            .collect::<Vec<_>>();
        let ece = (n > 0).then(|| {
            reliability
                .iter()
                .filter_map(|b| {
                    Some(b.count as f64 / n as f64 * (b.accuracy? - b.mean_confidence?).abs())
                })
                .sum()
        });
        let rho = spearman(&conf, &correct);
        Metrics {
            windows,
            labelled_windows: n,
            accuracy: share(exact),
            within_pm1: share(near),
            mae: share(abs_err),
            per_class,
            confusion,
            spearman: rho.as_ref().ok().copied(),
            spearman_undefined: rho.err(),
            brier: (n > 0).then(|| {
                conf.iter()
                    .zip(&correct)
                    .map(|(c, k)| (c - k).powi(2))
                    .sum::<f64>()
                    / n as f64
            }),
            ece,
            reliability,
            majority_class: majority.map(|c| c as u8),
            majority_baseline: majority.map(|c| support[c] as f64 / n as f64),
            label_range: labels
                .first()
                .zip(labels.last())
                .map(|(&a, &b)| (a as u8, b as u8)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_ranks_share_ties() {
        assert_eq!(
            average_ranks(&[10.0, 20.0, 10.0, 30.0]),
            vec![1.5, 3.0, 1.5, 4.0]
        );
    }

    #[test]
    fn spearman_matches_a_hand_computed_value_and_knows_when_undefined() {
        // ranks of x: 1..5; y = 0,0,1,0,1 → ranks 2,2,4.5,2,4.5; Σdxdy = 5, Σdx² = 10, Σdy² = 7.5 → ρ = 5/√75
        let rho = spearman(&[0.1, 0.2, 0.3, 0.4, 0.5], &[0.0, 0.0, 1.0, 0.0, 1.0]).unwrap();
        assert!((rho - 0.577_350_27).abs() < 1e-6, "{rho}");
        assert_eq!(
            spearman(&[0.5, 0.5], &[0.0, 1.0]),
            Err(SpearmanUndefined::ConfidenceConstant)
        );
        assert_eq!(
            spearman(&[0.1, 0.5], &[1.0, 1.0]),
            Err(SpearmanUndefined::CorrectnessConstant)
        );
        assert_eq!(spearman(&[], &[]), Err(SpearmanUndefined::NoLabels));
    }
}
