//! A moment of a replay, written into a link: the window under the cursor, the zoomed range, and which
//! models and recording it was seen with.
//!
//! The page's URL fragment carries it (`#t=1234&view=1000-1400&model=count_v1.onnx&recording=rec.jsonl`)
//! and the embed element takes the same `t` and `view` forms as its `start` and `view` attributes, so a
//! documentation page can point at the one moment it discusses. Parsing, formatting and resolving against
//! a replay live here, once; the page only reads and writes the text.
//!
//! Forms:
//! - a **position** is a window number, 1-based as the page shows it (`1234`), or a time from the first
//!   window's start: seconds with a unit (`754s`, `754.5s`) or a clock (`12:34`, `1:02:03.5`);
//! - `t=POSITION` puts the cursor there;
//! - `view=POSITION-POSITION` zooms onto that range (both ends included);
//! - `model=NAME` (at most two: A then B) and `recording=NAME` say what the moment was seen with.
//!
//! Unknown keys are kept out and named, so a link from a newer version still opens at its moment.

use crate::series::Series;
use std::fmt::Write;

/// Where in a replay: a window or a time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Position {
    /// A window number, 1-based.
    Window(usize),
    /// Seconds from the first window's start.
    Elapsed(f64),
}

/// What is wrong with a link's fragment.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MomentError {
    /// A position that is neither a window number nor a time.
    #[error("{key}={value:?}: not a window number (1234) or a time (754s, 12:34)")]
    BadPosition {
        /// `t` or `view`.
        key: &'static str,
        /// What was given.
        value: String,
    },
    /// A view that is not `A-B`.
    #[error("view={0:?}: not a range like 1000-1400 or 10:00-12:30")]
    BadView(String),
    /// More than two models.
    #[error("{0} models in the link: at most two (A and B)")]
    TooManyModels(usize),
}

/// A moment, as a link's fragment says it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Moment {
    /// The cursor.
    pub at: Option<Position>,
    /// The zoomed range, both ends included.
    pub view: Option<(Position, Position)>,
    /// The models the moment was seen with (A, then B).
    pub models: Vec<String>,
    /// The recording it was seen in.
    pub recording: Option<String>,
    /// Keys this version does not know (ignored, and said).
    pub unknown: Vec<String>,
}

/// A moment resolved against a replay: 0-based, clamped to its windows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Resolved {
    /// The cursor window.
    pub cursor: Option<usize>,
    /// The view, `[start, end)`.
    pub view: Option<(usize, usize)>,
}

fn parse_position(key: &'static str, s: &str) -> Result<Position, MomentError> {
    let bad = || MomentError::BadPosition {
        key,
        value: s.to_string(),
    };
    let s = s.trim();
    if let Some(secs) = s.strip_suffix('s') {
        let v: f64 = secs.parse().map_err(|_| bad())?;
        return (v.is_finite() && v >= 0.0)
            .then_some(Position::Elapsed(v))
            .ok_or_else(bad);
    }
    if s.contains(':') {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() > 3 {
            return Err(bad());
        }
        let mut total = 0.0;
        for (k, p) in parts.iter().enumerate() {
            let v: f64 = p.parse().map_err(|_| bad())?;
            let last = k + 1 == parts.len();
            if !v.is_finite() || v < 0.0 || (!last && v.fract() != 0.0) || (k > 0 && v >= 60.0) {
                return Err(bad());
            }
            total = total * 60.0 + v;
        }
        return Ok(Position::Elapsed(total));
    }
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(Position::Window(n)),
        _ => Err(bad()),
    }
}

/// Percent-decoding of a fragment value (`+` is kept: names may hold it); invalid escapes stay as written.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encoding of a name for a fragment value: everything but unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            out.push(c as char);
        } else {
            let _ = write!(out, "%{c:02X}");
        }
    }
    out
}

impl Moment {
    /// Parse a fragment (with or without its leading `#`).
    pub fn parse(fragment: &str) -> Result<Self, MomentError> {
        let mut m = Moment::default();
        for pair in fragment
            .trim_start_matches('#')
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value);
            match key {
                "t" => m.at = Some(parse_position("t", &value)?),
                "view" => {
                    // A time may hold no '-', so the range splits at the first one.
                    let (a, b) = value
                        .split_once('-')
                        .ok_or_else(|| MomentError::BadView(value.clone()))?;
                    m.view = Some((parse_position("view", a)?, parse_position("view", b)?));
                }
                "model" => m.models.push(value),
                "recording" => m.recording = Some(value),
                other => m.unknown.push(decode(other)),
            }
        }
        if m.models.len() > 2 {
            return Err(MomentError::TooManyModels(m.models.len()));
        }
        Ok(m)
    }

    /// The fragment for a moment of a replay (`cursor` and `view` 0-based, `view` as `[start, end)`),
    /// without the leading `#`; window numbers, 1-based, as the page shows them.
    pub fn fragment(
        cursor: usize,
        view: Option<(usize, usize)>,
        models: &[String],
        recording: Option<&str>,
    ) -> String {
        let mut s = format!("t={}", cursor + 1);
        if let Some((a, b)) = view {
            let _ = write!(s, "&view={}-{}", a + 1, b.max(a + 1));
        }
        for m in models {
            let _ = write!(s, "&model={}", encode(m));
        }
        if let Some(r) = recording {
            let _ = write!(s, "&recording={}", encode(r));
        }
        s
    }

    /// Resolve against a replay of `len` windows whose start times (seconds, NaN when unknown) are
    /// `ts_start`: a time is the last window that started by then. Out-of-range positions are clamped; a
    /// time in a replay without times resolves to nothing.
    pub fn resolve(&self, len: usize, ts_start: &[f64]) -> Resolved {
        if len == 0 {
            return Resolved::default();
        }
        let index = |p: Position| -> Option<usize> {
            match p {
                Position::Window(n) => Some(n.saturating_sub(1).min(len - 1)),
                Position::Elapsed(t) => {
                    let t0 = *ts_start.first()?;
                    if t0.is_nan() {
                        return None;
                    }
                    // The windows' starts are ascending in a replay; the last one at or before t0 + t.
                    let k = ts_start[..len.min(ts_start.len())]
                        .partition_point(|&s| s.is_nan() || s <= t0 + t);
                    Some(k.saturating_sub(1))
                }
            }
        };
        let view = self.view.and_then(|(a, b)| {
            let (a, b) = (index(a)?, index(b)?);
            let (a, b) = (a.min(b), a.max(b));
            Some((a, b + 1))
        });
        Resolved {
            cursor: self.at.and_then(index),
            view,
        }
    }

    /// Resolve against a replay's columns.
    pub fn resolve_in(&self, series: &Series) -> Resolved {
        self.resolve(series.len(), &series.ts_start)
    }

    /// What a page should say when the link was made with other files than the ones open.
    pub fn mismatch(&self, models: &[String], recording: Option<&str>) -> Option<String> {
        let models_differ = !self.models.is_empty() && self.models.as_slice() != models;
        let recording_differs =
            matches!((&self.recording, recording), (Some(a), Some(b)) if a != b);
        (models_differ || recording_differs).then(|| {
            format!(
                "this link points at a moment of {} with {}; open here: {} with {}",
                self.recording.as_deref().unwrap_or("a recording"),
                if self.models.is_empty() {
                    "a model".to_string()
                } else {
                    self.models.join(" and ")
                },
                recording.unwrap_or("no recording"),
                if models.is_empty() {
                    "no model".to_string()
                } else {
                    models.join(" and ")
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_windows_or_times() {
        let m = Moment::parse(
            "#t=1234&view=10:00-12:30.5&model=a.onnx&model=b%20c.onnx&recording=r.jsonl&x=1",
        )
        .unwrap();
        assert_eq!(m.at, Some(Position::Window(1234)));
        assert_eq!(
            m.view,
            Some((Position::Elapsed(600.0), Position::Elapsed(750.5)))
        );
        assert_eq!(m.models, ["a.onnx", "b c.onnx"]);
        assert_eq!(m.recording.as_deref(), Some("r.jsonl"));
        assert_eq!(m.unknown, ["x"]);
        assert_eq!(
            Moment::parse("t=754.5s").unwrap().at,
            Some(Position::Elapsed(754.5))
        );
        assert_eq!(
            Moment::parse("t=1:02:03").unwrap().at,
            Some(Position::Elapsed(3723.0))
        );
        assert_eq!(Moment::parse("").unwrap(), Moment::default());
    }

    #[test]
    fn bad_fragments_say_what_is_wrong() {
        for bad in [
            "t=0",
            "t=-3",
            "t=abc",
            "t=1:99",
            "t=1.5:00",
            "t=nans",
            "t=infs",
            "t=1:2:3:4",
        ] {
            let e = Moment::parse(bad).unwrap_err();
            assert!(
                matches!(e, MomentError::BadPosition { key: "t", .. }),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            Moment::parse("view=12").unwrap_err(),
            MomentError::BadView("12".into())
        );
        assert_eq!(
            Moment::parse("model=a&model=b&model=c").unwrap_err(),
            MomentError::TooManyModels(3)
        );
        // Any bytes: an error or a moment, never a panic.
        for s in [
            "%",
            "%%",
            "%G0",
            "t=%31",
            "view=-",
            "view=1-",
            "=&=&",
            "t=\u{1F600}",
        ] {
            let _ = Moment::parse(s);
        }
        assert_eq!(
            Moment::parse("t=%31%32").unwrap().at,
            Some(Position::Window(12))
        );
    }

    #[test]
    fn a_fragment_round_trips_and_resolves_against_a_replay() {
        let f = Moment::fragment(99, Some((50, 150)), &["a b.onnx".into()], Some("r&s.jsonl"));
        assert_eq!(
            f,
            "t=100&view=51-150&model=a%20b.onnx&recording=r%26s.jsonl"
        );
        let m = Moment::parse(&f).unwrap();
        assert_eq!(m.models, ["a b.onnx"]);
        assert_eq!(m.recording.as_deref(), Some("r&s.jsonl"));
        let ts: Vec<f64> = (0..200).map(|i| 1000.0 + i as f64 * 0.8).collect();
        assert_eq!(
            m.resolve(200, &ts),
            Resolved {
                cursor: Some(99),
                view: Some((50, 150))
            }
        );
        // Times: the last window started by then; out of range clamps; no times, no position.
        let m = Moment::parse("t=8s&view=0s-1000s").unwrap();
        assert_eq!(
            m.resolve(200, &ts),
            Resolved {
                cursor: Some(10),
                view: Some((0, 200))
            }
        );
        assert_eq!(m.resolve(200, &[f64::NAN; 200]), Resolved::default());
        assert_eq!(
            Moment::parse("t=5000").unwrap().resolve(200, &ts).cursor,
            Some(199)
        );
        assert_eq!(
            Moment::parse("t=5").unwrap().resolve(0, &[]),
            Resolved::default()
        );
    }

    #[test]
    fn a_link_made_with_other_files_is_said() {
        let m = Moment::parse("t=3&model=a.onnx&recording=r.jsonl").unwrap();
        assert!(m.mismatch(&["a.onnx".into()], Some("r.jsonl")).is_none());
        let said = m.mismatch(&["b.onnx".into()], Some("r.jsonl")).unwrap();
        assert!(said.contains("a.onnx") && said.contains("b.onnx"), "{said}");
        assert!(Moment::parse("t=3").unwrap().mismatch(&[], None).is_none());
    }
}
