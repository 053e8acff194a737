//! Writing predictions (JSON lines, CSV) and the progress line on a terminal.

use countscope::replay::FramePrediction;
use countscope::time::format_iso8601;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub fn write_jsonl(out: &mut impl Write, predictions: &[FramePrediction]) -> std::io::Result<()> {
    for p in predictions {
        serde_json::to_writer(&mut *out, p)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

pub fn write_csv(out: &mut impl Write, predictions: &[FramePrediction]) -> std::io::Result<()> {
    let probs: Vec<String> = (0..8).map(|c| format!("p{c}")).collect();
    let logits: Vec<String> = (0..8).map(|c| format!("logit{c}")).collect();
    writeln!(out, "line,ts_start,ts_end,truth,count,correct,confidence,count_p95_low,count_p95_high,{},conf_logit,{}", probs.join(","), logits.join(","))?;
    let opt = |v: Option<String>| v.unwrap_or_default();
    for p in predictions {
        let row = [
            p.line.to_string(),
            opt(p.ts_start.map(format_iso8601)),
            opt(p.ts_end.map(format_iso8601)),
            opt(p.truth.map(|t| t.to_string())),
            p.count.to_string(),
            opt(p.correct.map(|c| c.to_string())),
            p.confidence.to_string(),
            p.count_p95_low.to_string(),
            p.count_p95_high.to_string(),
            p.probs.map(|v| v.to_string()).join(","),
            p.conf_logit.to_string(),
            p.count_logits.map(|v| v.to_string()).join(","),
        ];
        writeln!(out, "{}", row.join(","))?;
    }
    Ok(())
}

/// A one-line progress display on standard error, only when it is a terminal.
pub struct Progress {
    total: Option<u64>,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    pub fn new(total: Option<u64>) -> Self {
        Self {
            total,
            last: std::io::stderr().is_terminal().then(Instant::now),
            shown: false,
        }
    }

    pub fn update(&mut self, bytes: u64, windows: usize, skipped: u64) {
        let Some(last) = self.last else { return };
        if last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Some(Instant::now());
        self.shown = true;
        let mb = bytes as f64 / 1e6;
        let of = self
            .total
            .map(|t| {
                format!(
                    " / {:.1} MB ({:.0} %)",
                    t as f64 / 1e6,
                    100.0 * bytes as f64 / t.max(1) as f64
                )
            })
            .unwrap_or_default();
        eprint!("\r\x1b[2K{windows} windows · {mb:.1} MB{of} · {skipped} skipped");
    }

    pub fn done(&mut self) {
        if self.shown {
            eprint!("\r\x1b[2K");
        }
    }
}
