//! The human form of an evaluation: one line per recording, each split's pooled tables and gates, the
//! rooms, and the verdict.

use super::Evaluation;
use crate::report::text::{findings_list, gate_table, interval, metrics_table, num, pct};
use std::fmt::Write;

impl Evaluation {
    /// Render as text tables for a terminal or a log.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "countscope evaluate: {} recording(s), {} windows; ADR-103 {} targets",
            self.recordings.len(),
            self.windows,
            self.targets
        );
        let _ = writeln!(
            s,
            "model: {}, {} parameters, {}",
            self.model.producer, self.model.parameters, self.model.fingerprint
        );
        let _ = writeln!(s, "calibration: {}", self.calibration.description);
        let _ = writeln!(
            s,
            "\n| recording | room | split | windows | labelled | accuracy | within ±1 | MAE | skipped lines |\n|---|---|---|---|---|---|---|---|---|"
        );
        for r in &self.recordings {
            let synthetic = if r.synthetic_windows > 0 {
                " (SYNTHETIC)"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "| {}{synthetic} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.path,
                r.room,
                r.split,
                r.windows,
                r.labelled_windows,
                pct(r.accuracy),
                pct(r.within_pm1),
                num(r.mae),
                r.skipped_lines
            );
        }
        for r in &self.recordings {
            for e in r.bad_lines.iter().take(3) {
                let _ = writeln!(s, "  {}: skipped {e}", r.path);
            }
            if let Some(e) = &r.stream_error {
                let _ = writeln!(s, "  {}: input cut short: {e}", r.path);
            }
        }
        for split in &self.splits {
            let _ = writeln!(
                s,
                "\n## {} split: {} recording(s), {} room(s), {} windows ({} labelled)",
                split.split,
                split.recordings,
                split.rooms.len(),
                split.metrics.windows,
                split.metrics.labelled_windows
            );
            if split.recordings > 0 {
                if let Some(i) = &split.input {
                    let _ = writeln!(s, "{}", i.description);
                }
                metrics_table(&mut s, &split.metrics, split.uncertainty.as_ref());
            }
            findings_list(&mut s, &split.findings);
            gate_table(&mut s, &split.gates);
            let _ = writeln!(
                s,
                "\n{} gates: {}",
                split.split,
                if split.gates_passed {
                    "all met"
                } else {
                    "NOT all met"
                }
            );
        }
        let _ = writeln!(
            s,
            "\n## rooms\n\n| room | split | recordings | windows | accuracy | within ±1 (95 % interval) | MAE (95 % interval) |\n|---|---|---|---|---|---|---|"
        );
        for r in &self.rooms {
            let iv = |i: Option<crate::report::Interval>, f| {
                i.map_or(String::new(), |_| format!(" ({})", interval(i, f)))
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {}{} | {}{} |",
                r.room,
                r.split,
                r.recordings,
                r.windows,
                pct(r.accuracy),
                pct(r.within_pm1),
                iv(r.within_pm1_interval, pct),
                num(r.mae),
                iv(r.mae_interval, num)
            );
        }
        findings_list(&mut s, &self.findings);
        let _ = writeln!(
            s,
            "\ngates: {}",
            if self.gates_passed {
                "all met in both splits"
            } else {
                "NOT all met"
            }
        );
        s
    }
}
