//! An evaluation's manifest: which recordings, from which room, in which of ADR-103's splits.
//!
//! ```toml
//! [[recording]]
//! path = "rec/a.paired.jsonl.gz"   # relative to the manifest's folder
//! room = "lab-1"
//! split = "same-room"              # or "cross-room"
//! layout = "frame-major"           # optional: as `report --layout`
//! hop = 1                          # optional: as `report --hop` (CSI frame files)
//! ```
//!
//! The manifest is text to the core: the shells read the file and the recordings it names. Every error
//! names the manifest line it is about.

use crate::recording::LayoutPolicy;
use serde::{Deserialize, Serialize};

/// One of ADR-103's two kinds of held-out data, each with its own within ±1 target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// Held-out sessions in rooms the model was trained in.
    SameRoom,
    /// Rooms the model never saw.
    CrossRoom,
}

impl Split {
    /// Both, in report order.
    pub const ALL: [Split; 2] = [Split::SameRoom, Split::CrossRoom];

    /// The manifest's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Split::SameRoom => "same-room",
            Split::CrossRoom => "cross-room",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One `[[recording]]` of a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The recording, as written (relative paths are relative to the manifest's folder).
    pub path: String,
    /// The room it was recorded in (any name; rooms are compared by name).
    pub room: String,
    /// Which split it counts towards.
    pub split: Split,
    /// How its flat `csi` arrays map to the model's `[56][20]`; the run's `--layout` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<LayoutPolicy>,
    /// Frames between window starts for a CSI frame file; the run's `--hop` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hop: Option<u16>,
    /// The manifest line its `[[recording]]` header is on.
    pub line: u64,
}

impl Entry {
    /// How this recording is read: its own `layout` and `hop` where the manifest gives them, else the
    /// run's. Every shell asks this, so an entry's overrides mean the same everywhere.
    pub fn reading(&self, layout: LayoutPolicy, hop: u16) -> (LayoutPolicy, u16) {
        (self.layout.unwrap_or(layout), self.hop.unwrap_or(hop))
    }

    /// The same recording read the same way (the manifest line aside): what an outcome must answer.
    pub fn same_as(&self, other: &Entry) -> bool {
        Entry {
            line: other.line,
            ..self.clone()
        } == *other
    }
}

/// A parsed manifest: at least one recording, no path twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The recordings, in the manifest's order (the order every pooled number is computed in).
    pub recordings: Vec<Entry>,
}

/// What is wrong with a manifest, with its line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not TOML, an unknown key, a missing key or a value of the wrong kind.
    #[error("manifest line {line}: {reason}")]
    Invalid {
        /// 1-based line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// No `[[recording]]` at all.
    #[error("the manifest lists no [[recording]] (each needs path, room and split)")]
    Empty,
    /// The same path twice: its windows would count twice.
    #[error("manifest line {line}: {path:?} is already listed at line {first}; its windows would count twice")]
    Duplicate {
        /// The second listing's line.
        line: u64,
        /// The path.
        path: String,
        /// The first listing's line.
        first: u64,
    },
}

/// The most recordings a manifest may list: more is a batch runner's job (see the README's recipe).
pub const MAX_RECORDINGS: usize = 10_000;

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
mod parse {
    use super::*;
    use toml::Spanned;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        #[serde(default)]
        recording: Vec<Spanned<RawEntry>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawEntry {
        path: Spanned<String>,
        room: Spanned<String>,
        split: Split,
        #[serde(default)]
        layout: Option<LayoutPolicy>,
        #[serde(default)]
        hop: Option<Spanned<i64>>,
    }

    /// 1-based line of a byte offset.
    fn line_of(text: &str, offset: usize) -> u64 {
        let end = offset.min(text.len());
        1 + text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64
    }

    impl Manifest {
        /// Parse a manifest's text.
        pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
            let raw: Raw = toml::from_str(text).map_err(|e| ManifestError::Invalid {
                line: e.span().map_or(1, |s| line_of(text, s.start)),
                reason: e.message().trim().to_string(),
            })?;
            if raw.recording.is_empty() {
                return Err(ManifestError::Empty);
            }
            if raw.recording.len() > MAX_RECORDINGS {
                return Err(ManifestError::Invalid {
                    line: line_of(text, raw.recording[MAX_RECORDINGS].span().start),
                    reason: format!(
                        "more than {MAX_RECORDINGS} recordings: split the set and run one job per recording (see the README's recipe)"
                    ),
                });
            }
            let mut out: Vec<Entry> = Vec::with_capacity(raw.recording.len());
            for r in raw.recording {
                // The table's span starts at its `[[recording]]` header.
                let line = line_of(text, r.span().start);
                let r = r.into_inner();
                let invalid =
                    |span: std::ops::Range<usize>, reason: String| ManifestError::Invalid {
                        line: line_of(text, span.start),
                        reason,
                    };
                if r.path.get_ref().trim().is_empty() {
                    return Err(invalid(r.path.span(), "path is empty".into()));
                }
                if r.room.get_ref().trim().is_empty() {
                    return Err(invalid(r.room.span(), "room is empty".into()));
                }
                let hop = match r.hop {
                    None => None,
                    Some(h) => match u16::try_from(*h.get_ref()) {
                        Ok(v @ 1..=20) => Some(v),
                        _ => {
                            return Err(invalid(
                                h.span(),
                                format!("hop {} is not 1 to 20", h.get_ref()),
                            ))
                        }
                    },
                };
                let path = r.path.into_inner();
                if let Some(first) = out.iter().find(|e| e.path == path) {
                    return Err(ManifestError::Duplicate {
                        line,
                        path,
                        first: first.line,
                    });
                }
                out.push(Entry {
                    path,
                    room: r.room.into_inner(),
                    split: r.split,
                    layout: r.layout,
                    hop,
                    line,
                });
            }
            Ok(Manifest { recordings: out })
        }
    }
}

// Parsing is not in the browser build, nor are its tests.
#[cfg(all(test, not(all(target_arch = "wasm32", target_os = "unknown"))))]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_with_their_lines() {
        let m = Manifest::parse(
            "# samples\n[[recording]]\npath = \"a.jsonl\"\nroom = \"lab-1\"\nsplit = \"same-room\"\n\n[[recording]]\npath = \"b.jsonl\"\nroom = \"lab-2\"\nsplit = \"cross-room\"\nlayout = \"frame-major\"\nhop = 1\n",
        )
        .unwrap();
        assert_eq!(m.recordings.len(), 2);
        assert_eq!(m.recordings[0].path, "a.jsonl");
        assert_eq!(m.recordings[0].split, Split::SameRoom);
        assert_eq!(m.recordings[0].line, 2);
        assert_eq!(m.recordings[1].split, Split::CrossRoom);
        assert_eq!(m.recordings[1].layout, Some(LayoutPolicy::FrameMajor));
        assert_eq!(m.recordings[1].hop, Some(1));
        assert_eq!(m.recordings[1].line, 7);
    }

    #[test]
    fn errors_name_the_line() {
        let bad_split = "[[recording]]\npath = \"a\"\nroom = \"r\"\nsplit = \"other-room\"\n";
        match Manifest::parse(bad_split) {
            Err(ManifestError::Invalid { line, reason }) => {
                assert_eq!(line, 4, "{reason}");
                assert!(reason.contains("same-room"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let missing_room = "[[recording]]\npath = \"a\"\nsplit = \"same-room\"\n";
        let e = Manifest::parse(missing_room).unwrap_err().to_string();
        assert!(e.contains("room"), "{e}");
        let unknown =
            "[[recording]]\npath = \"a\"\nroom = \"r\"\nsplit = \"same-room\"\nsplitt = 1\n";
        let e = Manifest::parse(unknown).unwrap_err();
        assert!(matches!(&e, ManifestError::Invalid { line: 5, .. }), "{e}");
        let hop = "[[recording]]\npath = \"a\"\nroom = \"r\"\nsplit = \"same-room\"\nhop = 21\n";
        assert_eq!(
            Manifest::parse(hop).unwrap_err(),
            ManifestError::Invalid {
                line: 5,
                reason: "hop 21 is not 1 to 20".into()
            }
        );
        let twice = "[[recording]]\npath = \"a\"\nroom = \"r\"\nsplit = \"same-room\"\n[[recording]]\npath = \"a\"\nroom = \"s\"\nsplit = \"cross-room\"\n";
        assert!(matches!(
            Manifest::parse(twice),
            Err(ManifestError::Duplicate {
                line: 5,
                first: 1,
                ..
            })
        ));
        assert_eq!(Manifest::parse("# nothing\n"), Err(ManifestError::Empty));
        assert!(matches!(
            Manifest::parse("[[recording]\n"),
            Err(ManifestError::Invalid { line: 1, .. })
        ));
    }

    #[test]
    fn no_bytes_panic() {
        for text in [
            "",
            "\u{0}",
            "[[recording]]",
            "recording = 3",
            "[[recording]]\npath = 1",
            "x = \"\\u{ffff}\"",
        ] {
            let _ = Manifest::parse(text);
        }
    }
}
