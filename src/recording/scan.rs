//! A recording read without a model: what it holds (windows, labels, times, layouts, bad lines, and for a
//! CSI frame file how its frames frame), as `countscope scan` prints it. The same reader as a replay, so
//! the windows counted here are the windows a replay would run.

use super::{Framing, LayoutPolicy, LayoutTally, LineError, Reader};
use serde::Serialize;
use std::collections::BTreeMap;

/// Bad lines listed by name (the rest are counted).
const LISTED: usize = 10;

/// What a recording holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RecordingScan {
    /// Bytes read, as given.
    pub bytes: u64,
    /// Whether it was gzip.
    pub gzip: bool,
    /// Why reading stopped early (a corrupt or truncated gzip stream), if it did.
    pub stream_error: Option<String>,
    /// Windows a replay would run.
    pub windows: u64,
    /// Of those, windows with a label, and how many of each count.
    pub labelled_windows: u64,
    /// Labelled windows per person count (keys written as strings, as JSON needs).
    #[serde(serialize_with = "super::frames::string_keys")]
    pub labels: BTreeMap<u8, u64>,
    /// Start of the first window and end of the last (ISO-8601), when the recording says.
    pub first: Option<String>,
    /// End of the last window.
    pub last: Option<String>,
    /// Lines that are not windows, with the first few named.
    pub skipped_lines: u64,
    /// The first bad lines.
    pub bad_lines: Vec<LineError>,
    /// How flat windows would be laid out.
    pub layout: LayoutTally,
    /// For a CSI frame file: how its frames were framed (`null` for a paired recording).
    pub framing: Option<Framing>,
    /// The first `synthetic` tag: how a simulated recording was made (`null`: not tagged synthetic).
    pub synthetic: Option<String>,
}

/// A scan in progress: push the recording's bytes in chunks of any size.
#[derive(Debug)]
pub struct Scan {
    reader: Reader,
    lines: Vec<Result<super::Record, LineError>>,
    out: RecordingScan,
    first_ts: Option<f64>,
    last_ts: Option<f64>,
}

impl Scan {
    /// A scan laying flat windows out by `policy`, framing frame files every `hop` frames.
    pub fn new(policy: LayoutPolicy, hop: usize) -> Self {
        let mut reader = Reader::new(policy);
        reader.set_hop(hop);
        Scan {
            reader,
            lines: Vec::new(),
            out: RecordingScan {
                layout: LayoutTally::new(policy),
                ..RecordingScan::default()
            },
            first_ts: None,
            last_ts: None,
        }
    }

    /// Feed the next chunk.
    pub fn push(&mut self, chunk: &[u8]) {
        self.out.bytes += chunk.len() as u64;
        if let Err(e) = self.reader.push(chunk) {
            self.out.stream_error.get_or_insert(e.to_string());
        }
        self.absorb();
    }

    fn absorb(&mut self) {
        self.reader.take_lines(&mut self.lines);
        for item in self.lines.drain(..) {
            match item {
                Ok(r) => {
                    self.out.windows += 1;
                    self.out.layout.add(&r);
                    if let Some(t) = r.truth {
                        self.out.labelled_windows += 1;
                        *self.out.labels.entry(t).or_default() += 1;
                    }
                    if let Some(t) = r.ts_start {
                        self.first_ts.get_or_insert(t);
                    }
                    if let Some(t) = r.ts_end.or(r.ts_start) {
                        self.last_ts = Some(t);
                    }
                    if self.out.synthetic.is_none() {
                        self.out.synthetic = r.synthetic;
                    }
                }
                Err(e) => {
                    self.out.skipped_lines += 1;
                    if self.out.bad_lines.len() < LISTED {
                        self.out.bad_lines.push(e);
                    }
                }
            }
        }
    }

    /// End of input.
    pub fn finish(mut self) -> RecordingScan {
        if let Err(e) = self.reader.finish() {
            self.out.stream_error.get_or_insert(e.to_string());
        }
        self.absorb();
        self.out.gzip = self.reader.is_gzip();
        self.out.framing = self.reader.framing();
        self.out.first = self.first_ts.map(crate::time::format_iso8601);
        self.out.last = self.last_ts.map(crate::time::format_iso8601);
        self.out
    }
}

impl RecordingScan {
    /// In words, as `countscope scan` prints it.
    pub fn describe(&self) -> String {
        let mut s = vec![format!(
            "{} window(s), {} labelled{}; {} line(s) skipped; {:.1} MB{}",
            self.windows,
            self.labelled_windows,
            if self.labels.is_empty() {
                String::new()
            } else {
                let l: Vec<String> = self
                    .labels
                    .iter()
                    .map(|(c, n)| format!("{n} × {c}"))
                    .collect();
                format!(" ({})", l.join(", "))
            },
            self.skipped_lines,
            self.bytes as f64 / 1e6,
            if self.gzip { " (gzip)" } else { "" }
        )];
        match (&self.first, &self.last) {
            (Some(a), Some(b)) => s.push(format!("from {a} to {b}")),
            _ => s.push("no times".into()),
        }
        s.push(match &self.synthetic {
            Some(how) => format!("SYNTHETIC: {how}"),
            None => "not tagged synthetic".into(),
        });
        if let Some(f) = &self.framing {
            s.push(f.describe());
        }
        if self.windows > 0 {
            s.push(self.layout.describe());
        }
        if let Some(e) = &self.stream_error {
            s.push(format!("input cut short: {e}"));
        }
        for e in &self.bad_lines {
            s.push(format!("  skipped {e}"));
        }
        if self.skipped_lines > self.bad_lines.len() as u64 {
            s.push(format!(
                "  … and {} more skipped line(s)",
                self.skipped_lines - self.bad_lines.len() as u64
            ));
        }
        s.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_counts_windows_labels_and_bad_lines_in_any_chunking() {
        let csi: Vec<String> = (0..crate::WINDOW_LEN)
            .map(|i| (i % 50).to_string())
            .collect();
        let good = |label: u8, ts: u32| {
            format!(
                "{{\"csi\":[{}],\"csi_shape\":[20,56],\"n_persons_mode\":{label},\"ts_start\":{ts}}}\n",
                csi.join(",")
            )
        };
        let text = format!("{}{}not json\n{}", good(0, 100), good(2, 101), good(2, 102));
        let whole = {
            let mut s = Scan::new(LayoutPolicy::Labelled, 20);
            s.push(text.as_bytes());
            s.finish()
        };
        let bits = {
            let mut s = Scan::new(LayoutPolicy::Labelled, 20);
            text.as_bytes().chunks(7).for_each(|c| s.push(c));
            s.finish()
        };
        assert_eq!(whole, bits);
        assert_eq!(
            (whole.windows, whole.labelled_windows, whole.skipped_lines),
            (3, 3, 1)
        );
        assert_eq!(whole.labels, BTreeMap::from([(0, 1), (2, 2)]));
        assert_eq!(whole.bad_lines[0].line, 3);
        assert!(whole.framing.is_none());
        assert!(whole
            .describe()
            .contains("3 window(s), 3 labelled (1 × 0, 2 × 2)"));
    }
}
