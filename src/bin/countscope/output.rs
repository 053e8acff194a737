//! Writing predictions (JSON lines, CSV) and the progress line on a terminal.

use countscope::replay::FramePrediction;
use countscope::series::Series;
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
    writeln!(out, "{}", Series::csv_header())?;
    for p in predictions {
        writeln!(out, "{}", Series::csv_row(p))?;
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

    /// No display at all.
    pub fn off() -> Self {
        Self {
            total: None,
            last: None,
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
