//! The human form of a report: the tables RuView's benchmark log has, ending with the comparison to the
//! ADR-103 targets.

use super::gates::{Direction, GateMetric};
use super::Report;
use crate::N_CLASSES;
use std::fmt::Write;

fn pct(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{:.1} %", v * 100.0))
}

fn num(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{v:.3}"))
}

fn gate_value(name: GateMetric, v: Option<f64>) -> String {
    match name {
        GateMetric::WithinPm1 | GateMetric::Accuracy => pct(v),
        _ => num(v),
    }
}

fn gate_label(name: GateMetric) -> &'static str {
    match name {
        GateMetric::WithinPm1 => "accuracy within ±1",
        GateMetric::Mae => "MAE",
        GateMetric::Spearman => "Spearman(confidence, correct)",
        GateMetric::Accuracy => "accuracy",
        GateMetric::Ece => "ECE (10 bins)",
        GateMetric::Brier => "Brier score",
    }
}

impl Report {
    /// Render as text tables for a terminal or a log.
    pub fn to_text(&self) -> String {
        let m = &self.metrics;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "countscope report: {} windows ({} labelled), {} skipped line(s)",
            m.windows, m.labelled_windows, self.skipped_lines
        );
        if self.recording.synthetic_windows > 0 {
            let _ = writeln!(
                s,
                "SYNTHETIC recording: {} of {} windows simulated ({})",
                self.recording.synthetic_windows,
                m.windows,
                self.recording
                    .synthetic_source
                    .as_deref()
                    .unwrap_or("a simulator")
            );
        }
        if let Some(e) = &self.recording.stream_error {
            let _ = writeln!(s, "input cut short: {e}");
        }
        let _ = writeln!(
            s,
            "model: {}, {} parameters, batch {}",
            self.model.producer, self.model.parameters, self.model.batch_size
        );
        if self.model.weights.len() > 1 {
            let from: Vec<String> = self
                .model
                .weights
                .iter()
                .map(|w| format!("{} tensor(s) from {}", w.tensors.len(), w.file))
                .collect();
            let _ = writeln!(s, "weights: {}", from.join(", "));
        }
        let _ = writeln!(s, "calibration: {}", self.calibration.description);
        if let Some(input) = &self.input {
            let _ = writeln!(s, "{}", input.description);
        }
        let _ = writeln!(s, "{}", self.layout.description);
        for e in self.bad_lines.iter().take(10) {
            let _ = writeln!(s, "  skipped {e}");
        }
        if self.skipped_lines > 10 {
            let _ = writeln!(
                s,
                "  … and {} more skipped line(s)",
                self.skipped_lines - 10
            );
        }
        let baseline = match (m.majority_baseline, m.majority_class) {
            (Some(b), Some(c)) => {
                format!("   (majority-class baseline {}: always {c})", pct(Some(b)))
            }
            _ => String::new(),
        };
        let rho = match (&m.spearman, &m.spearman_undefined) {
            (Some(r), _) => format!("{r:.3}"),
            (None, Some(why)) => format!("undefined ({})", why.explain()),
            _ => "—".into(),
        };
        let _ = writeln!(s, "\n| metric | value |\n|---|---|");
        let _ = writeln!(s, "| accuracy | {}{baseline} |", pct(m.accuracy));
        let _ = writeln!(s, "| accuracy within ±1 | {} |", pct(m.within_pm1));
        let _ = writeln!(s, "| MAE | {} |", num(m.mae));
        let _ = writeln!(s, "| Spearman(confidence, correct) | {rho} |");
        let _ = writeln!(s, "| Brier score | {} |", num(m.brier));
        let _ = writeln!(s, "| ECE (10 bins) | {} |", num(m.ece));

        let _ = writeln!(
            s,
            "\n| class | support | correct | accuracy | predicted |\n|---|---|---|---|---|"
        );
        for c in m
            .per_class
            .iter()
            .filter(|c| c.support > 0 || c.predicted > 0)
        {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                c.class,
                c.support,
                c.correct,
                pct(c.accuracy),
                c.predicted
            );
        }
        if m.labelled_windows > 0 {
            let _ = writeln!(s, "\nconfusion (rows: truth, columns: predicted)");
            let _ = writeln!(
                s,
                "     {}",
                (0..N_CLASSES)
                    .map(|c| format!("{c:>6}"))
                    .collect::<String>()
            );
            for (t, row) in m
                .confusion
                .iter()
                .enumerate()
                .filter(|(t, _)| m.per_class[*t].support > 0)
            {
                let _ = writeln!(
                    s,
                    "  {t}  {}",
                    row.iter().map(|v| format!("{v:>6}")).collect::<String>()
                );
            }
        }
        if !self.findings.is_empty() {
            let _ = writeln!(s, "\nfindings");
            for f in &self.findings {
                let _ = writeln!(
                    s,
                    "  [{}] {}: {}",
                    serde_json::to_value(f.severity)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                    f.code,
                    f.message
                );
            }
        }
        let _ = writeln!(s, "\nComparison to ADR-103 targets\n\n| gate | target | measured | status |\n|---|---|---|---|");
        for g in &self.gates {
            let op = if g.direction == Direction::AtLeast {
                "≥"
            } else {
                "≤"
            };
            let target = gate_value(g.name, Some(g.target));
            let note = g
                .note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "| {} | {op} {target} | {} | {}{note} |",
                gate_label(g.name),
                gate_value(g.name, g.measured),
                g.status.label()
            );
        }
        let _ = writeln!(
            s,
            "\ngates: {}",
            if self.gates_passed {
                "all met"
            } else {
                "NOT all met"
            }
        );
        s
    }
}
