//! Gates: pass/fail thresholds on the metrics, by default RuView's ADR-103 v0.1.0 targets.
//!
//! A gate that cannot be evaluated (no labels, Spearman undefined) is not met and says why; a gate met only
//! because the labels make it trivial (within ±1 when the labels span two adjacent classes or fewer) is
//! reported as "met only trivially" and does not count as passed.

use super::metrics::Metrics;
use serde::Serialize;

/// Which side of the target passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// measured ≥ target
    AtLeast,
    /// measured ≤ target
    AtMost,
}

/// A gate definition.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gate {
    /// Metric name, as in the JSON report (`within_pm1`, `mae`, `spearman`, `accuracy`, `ece`, `brier`).
    pub name: String,
    /// Which side passes.
    pub direction: Direction,
    /// The threshold.
    pub target: f64,
}

/// Outcome of one gate.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The threshold is met.
    Met,
    /// The threshold is not met.
    NotMet,
    /// Met, but only because the labels make it trivial; does not count as passed.
    MetOnlyTrivially,
    /// Could not be evaluated; does not count as passed.
    NotEvaluated,
}

impl Status {
    /// The word used in the human table.
    pub fn label(&self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::NotMet => "NOT MET",
            Status::MetOnlyTrivially => "met only trivially",
            Status::NotEvaluated => "NOT MET (not evaluable)",
        }
    }
}

/// A gate with its measurement and verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GateResult {
    /// Metric name.
    pub name: String,
    /// Which side passes.
    pub direction: Direction,
    /// The threshold.
    pub target: f64,
    /// The measured value, if any.
    pub measured: Option<f64>,
    /// The verdict.
    pub status: Status,
    /// Why, when not simply met / not met.
    pub note: Option<String>,
}

impl GateResult {
    /// Whether this gate counts as passed (only [`Status::Met`]).
    pub fn passed(&self) -> bool {
        self.status == Status::Met
    }
}

/// The metric names a gate can be set on.
pub const GATE_METRICS: [&str; 6] = ["within_pm1", "mae", "spearman", "accuracy", "ece", "brier"];

/// An ordered set of gates.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GateSet {
    /// The gates, in report order.
    pub gates: Vec<Gate>,
}

impl Default for GateSet {
    /// RuView ADR-103 v0.1.0: same-room within ±1 ≥ 0.80, MAE ≤ 0.6, Spearman(confidence, correct) ≥ 0.5.
    fn default() -> Self {
        Self::adr103(Targets::V010, false)
    }
}

/// Which ADR-103 column to hold a replay to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Targets {
    /// v0.1.0: within ±1 ≥ 80 % same-room (≥ 60 % cross-room), MAE ≤ 0.6, Spearman ≥ 0.5.
    V010,
    /// v0.2.0: within ±1 ≥ 90 % same-room (≥ 75 % cross-room), MAE ≤ 0.4, Spearman ≥ 0.7.
    V020,
}

impl std::str::FromStr for Targets {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim_start_matches('v') {
            "0.1.0" | "0.1" => Ok(Targets::V010),
            "0.2.0" | "0.2" => Ok(Targets::V020),
            _ => Err(format!(
                "unknown ADR-103 targets {s:?}: use v0.1.0 or v0.2.0"
            )),
        }
    }
}

impl GateSet {
    /// RuView's ADR-103 gates for a version, same-room or cross-room (which only changes within ±1). The
    /// latency and binary-size gates are about a Raspberry Pi build, not a recording, and are not here.
    pub fn adr103(targets: Targets, cross_room: bool) -> Self {
        let (same, cross, mae, rho) = match targets {
            Targets::V010 => (0.80, 0.60, 0.6, 0.5),
            Targets::V020 => (0.90, 0.75, 0.4, 0.7),
        };
        let g = |name: &str, direction, target| Gate {
            name: name.into(),
            direction,
            target,
        };
        Self {
            gates: vec![
                g(
                    "within_pm1",
                    Direction::AtLeast,
                    if cross_room { cross } else { same },
                ),
                g("mae", Direction::AtMost, mae),
                g("spearman", Direction::AtLeast, rho),
            ],
        }
    }

    /// Set (or add) a gate from `NAME=VALUE`; the direction follows the metric (MAE, ECE, Brier: at most).
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (name, value) = spec
            .split_once('=')
            .ok_or_else(|| format!("gate {spec:?} is not NAME=VALUE"))?;
        let name = name.trim();
        if !GATE_METRICS.contains(&name) {
            return Err(format!(
                "unknown gate {name:?}: known gates are {}",
                GATE_METRICS.join(", ")
            ));
        }
        let target: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("gate {name}: {value:?} is not a number"))?;
        let direction = if matches!(name, "mae" | "ece" | "brier") {
            Direction::AtMost
        } else {
            Direction::AtLeast
        };
        match self.gates.iter_mut().find(|g| g.name == name) {
            Some(g) => g.target = target,
            None => self.gates.push(Gate {
                name: name.into(),
                direction,
                target,
            }),
        }
        Ok(())
    }

    /// The current value of a spec'd threshold, e.g. for findings that refer to the Spearman gate.
    pub fn target(&self, name: &str) -> Option<f64> {
        self.gates.iter().find(|g| g.name == name).map(|g| g.target)
    }

    /// Evaluate every gate against the metrics. `within_trivial` marks within ±1 as trivial.
    pub fn evaluate(&self, m: &Metrics, within_trivial: bool) -> Vec<GateResult> {
        self.gates
            .iter()
            .map(|g| {
                let measured = match g.name.as_str() {
                    "within_pm1" => m.within_pm1,
                    "mae" => m.mae,
                    "spearman" => m.spearman,
                    "accuracy" => m.accuracy,
                    "ece" => m.ece,
                    "brier" => m.brier,
                    _ => None,
                };
                let (status, note) = match measured {
                    None if m.labelled_windows == 0 => (Status::NotEvaluated, Some("the recording has no labels".to_string())),
                    None if g.name == "spearman" => (
                        Status::NotEvaluated,
                        Some(format!("Spearman is undefined: {}", m.spearman_undefined.as_ref().map_or("", |u| u.explain()))),
                    ),
                    None => (Status::NotEvaluated, Some("not measured".to_string())),
                    Some(v) => {
                        let ok = match g.direction {
                            Direction::AtLeast => v >= g.target,
                            Direction::AtMost => v <= g.target,
                        };
                        match (ok, g.name == "within_pm1" && within_trivial) {
                            (true, true) => (
                                Status::MetOnlyTrivially,
                                Some("the labels span two adjacent classes or fewer, so within ±1 says nothing".to_string()),
                            ),
                            (true, false) => (Status::Met, None),
                            (false, _) => (Status::NotMet, None),
                        }
                    }
                };
                GateResult { name: g.name.clone(), direction: g.direction, target: g.target, measured, status, note }
            })
            .collect()
    }
}
