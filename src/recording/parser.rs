//! The push parser: bytes in, in chunks of any size split anywhere; records and line errors out.

use super::frames::{self, Framer, Framing};
use super::{line::parse_line, LayoutPolicy, LineError, Record};

/// The longest line accepted. A real window line is ≈ 5–15 KB; a file without newlines must not make the
/// parser hold gigabytes, so a longer line is reported and skipped up to its newline.
pub const MAX_LINE_BYTES: usize = 8 << 20;

pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A streaming reader of paired JSONL. Holds only the unfinished last line between pushes.
///
/// Blank lines are skipped (they still count for line numbers), a UTF-8 BOM at the start and `\r` before
/// `\n` are removed, and a last line without a newline is read by [`Parser::finish`].
#[derive(Debug)]
pub struct Parser {
    policy: LayoutPolicy,
    pending: Vec<u8>,
    /// Lines completed so far (the next line's number is `line + 1`).
    line: u64,
    /// The current line overflowed [`MAX_LINE_BYTES`]; its bytes are being dropped until the newline.
    overlong: bool,
    /// Frames of RuView's CSI frame files, gathered into windows per node.
    framer: Framer,
    /// Whether any frame line was seen (the input is a frame file).
    frames_seen: bool,
    /// The input continues a file from one of its later lines (a byte range): no byte-order mark to drop.
    continuing: bool,
}

impl Parser {
    /// A parser that maps flat `csi` arrays according to `policy`.
    pub fn new(policy: LayoutPolicy) -> Self {
        Self {
            policy,
            pending: Vec::new(),
            line: 0,
            overlong: false,
            framer: Framer::new(crate::N_FRAMES, policy),
            frames_seen: false,
            continuing: false,
        }
    }

    /// The input starts at a later line of a file (one share of a file split by bytes,
    /// [`super::range::LineRange`]): its first line is not the file's, so no byte-order mark is dropped
    /// from it. Line numbers still count from 1 (the shares are renumbered when appended).
    pub fn set_continuing(&mut self) {
        self.continuing = true;
    }

    /// Lines read so far, blank and bad ones included (after [`Parser::finish`]: all of them).
    pub fn lines(&self) -> u64 {
        self.line
    }

    /// Frames between the starts of windows framed from a CSI frame file (default 20, no overlap; 1 is
    /// RuView's sliding cog). Call before the first push.
    pub fn set_hop(&mut self, hop: usize) {
        self.framer = Framer::new(hop, self.policy);
    }

    /// How a CSI frame file was framed (`None` for a paired recording).
    pub fn framing(&self) -> Option<Framing> {
        self.frames_seen.then(|| self.framer.framing())
    }

    /// Feed the next chunk; every line it completes is appended to `out`, in order.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<Result<Record, LineError>>) {
        while let Some(nl) = memchr::memchr(b'\n', chunk) {
            let (head, rest) = (&chunk[..nl], &chunk[nl + 1..]);
            if self.pending.is_empty() && !self.overlong {
                if head.len() > MAX_LINE_BYTES {
                    self.overlong = true;
                } else {
                    self.line += 1;
                    self.emit(head, out);
                    chunk = rest;
                    continue;
                }
            }
            self.append(head);
            self.end_line(out);
            chunk = rest;
        }
        self.append(chunk);
    }

    /// Signal the end of the input: a last line without a newline is parsed now.
    pub fn finish(&mut self, out: &mut Vec<Result<Record, LineError>>) {
        if !self.pending.is_empty() || self.overlong {
            self.end_line(out);
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.overlong {
            return;
        }
        if self.pending.len() + bytes.len() > MAX_LINE_BYTES {
            self.overlong = true;
            self.pending = Vec::new();
        } else {
            self.pending.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self, out: &mut Vec<Result<Record, LineError>>) {
        self.line += 1;
        if std::mem::take(&mut self.overlong) {
            let reason = format!("line is longer than {} MiB; skipped", MAX_LINE_BYTES >> 20);
            out.push(Err(LineError {
                line: self.line,
                reason,
            }));
        } else {
            let pending = std::mem::take(&mut self.pending);
            self.emit(&pending, out);
            self.pending = pending;
            self.pending.clear();
        }
    }

    fn emit(&mut self, mut bytes: &[u8], out: &mut Vec<Result<Record, LineError>>) {
        if self.line == 1 && !self.continuing {
            bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        }
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let line = self.line;
        // A frame of a CSI frame file (recorder or raw ESP32): windows come from the framer.
        if frames::is_frame_line(bytes, self.frames_seen) {
            self.frames_seen = true;
            match frames::parse_frame(bytes) {
                Ok(read) => out.extend(self.framer.push(line, read).map(Ok)),
                Err(reason) => out.push(Err(LineError { line, reason })),
            }
            return;
        }
        out.push(parse_line(bytes, line, self.policy).map_err(|reason| LineError { line, reason }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WINDOW_LEN;
    use proptest::prelude::*;

    fn good(label: u8) -> String {
        let csi: Vec<String> = (0..WINDOW_LEN).map(|i| (i % 60).to_string()).collect();
        format!(
            "{{\"csi\":[{}],\"csi_shape\":[20,56],\"n_persons_mode\":{label}}}",
            csi.join(",")
        )
    }

    fn parse_all(bytes: &[u8], chunk: usize) -> Vec<Result<Record, LineError>> {
        let mut p = Parser::new(LayoutPolicy::Labelled);
        let mut out = Vec::new();
        for c in bytes.chunks(chunk.max(1)) {
            p.push(c, &mut out);
        }
        p.finish(&mut out);
        out
    }

    fn summary(v: &[Result<Record, LineError>]) -> Vec<Result<(u64, Option<u8>), LineError>> {
        v.iter()
            .map(|r| r.as_ref().map(|r| (r.line, r.truth)).map_err(Clone::clone))
            .collect()
    }

    #[test]
    fn bom_crlf_blank_lines_and_missing_final_newline() {
        let text = format!(
            "\u{feff}{}\r\n\r\n   \n{}\r\nnot json\n{}",
            good(1),
            good(2),
            good(3)
        );
        let got = summary(&parse_all(text.as_bytes(), 1 << 20));
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], Ok((1, Some(1))));
        assert_eq!(got[1], Ok((4, Some(2))));
        assert_eq!(got[2].as_ref().unwrap_err().line, 5);
        assert_eq!(got[3], Ok((6, Some(3))));
    }

    #[test]
    fn a_continuing_input_keeps_a_byte_order_mark_and_counts_its_lines() {
        // A byte-order mark is the file's first bytes only: on a later line (a share of a file split by
        // bytes) it is part of the line, which is then not JSON.
        let text = format!("\u{feff}{}\n{}", good(1), good(2));
        let mut parser = Parser::new(LayoutPolicy::Labelled);
        parser.set_continuing();
        let mut out = Vec::new();
        parser.push(text.as_bytes(), &mut out);
        parser.finish(&mut out);
        let got = summary(&out);
        assert_eq!(got[0].as_ref().unwrap_err().line, 1);
        assert_eq!(got[1], Ok((2, Some(2))));
        assert_eq!(parser.lines(), 2);
    }

    #[test]
    fn overlong_line_is_reported_and_the_next_line_still_reads() {
        let mut text = vec![b'x'; MAX_LINE_BYTES + 10];
        text.push(b'\n');
        text.extend_from_slice(good(4).as_bytes());
        for chunk in [1 << 16, MAX_LINE_BYTES + 100] {
            let got = summary(&parse_all(&text, chunk));
            assert_eq!(got.len(), 2, "chunk {chunk}");
            assert!(got[0]
                .as_ref()
                .unwrap_err()
                .reason
                .contains("longer than 8 MiB"));
            assert_eq!(got[1], Ok((2, Some(4))));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// However the bytes are split into chunks, the parser yields exactly the same results.
        #[test]
        fn chunking_never_changes_the_result(labels in proptest::collection::vec(0u8..8, 1..5), cut in 1usize..9000, crlf: bool) {
            let sep = if crlf { "\r\n" } else { "\n" };
            let text: String = labels.iter().map(|&l| good(l)).collect::<Vec<_>>().join(sep);
            prop_assert_eq!(summary(&parse_all(text.as_bytes(), cut)), summary(&parse_all(text.as_bytes(), usize::MAX)));
        }

        /// No bytes make it panic, and every error names a line that exists.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), cut in 1usize..64) {
            let lines = bytes.split(|&b| b == b'\n').count() as u64;
            for r in parse_all(&bytes, cut) {
                let line = match r { Ok(r) => r.line, Err(e) => { prop_assert!(!e.reason.contains('\n')); e.line } };
                prop_assert!(line >= 1 && line <= lines);
            }
        }
    }
}
