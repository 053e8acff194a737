//! [`Reader`]: bytes in (plain or gzip, any chunking), parsed lines out. The one decode → parse loop that
//! the replay, the input-statistics pass, the page's bare reader and the bench all drive.

use super::range::LineCut;
use super::{Decoder, LayoutPolicy, LineError, Parser, Record, StreamError};

/// A streaming recording reader: [`Decoder`] then [`Parser`], holding the lines parsed since the last
/// [`Reader::take_lines`].
#[derive(Debug)]
pub struct Reader {
    decoder: Decoder,
    parser: Parser,
    lines: Vec<Result<Record, LineError>>,
    /// Parse only one share of the decoded text ([`Reader::cut_decoded`]).
    cut: Option<LineCut>,
}

impl Reader {
    /// A reader mapping flat `csi` arrays by `policy`.
    pub fn new(policy: LayoutPolicy) -> Self {
        Self {
            decoder: Decoder::default(),
            parser: Parser::new(policy),
            lines: Vec::new(),
            cut: None,
        }
    }

    /// Feed the next chunk. An error means the gzip stream is corrupt: it says where, every line decoded
    /// before it is kept, and later input is ignored.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), StreamError> {
        let (parser, lines, cut) = (&mut self.parser, &mut self.lines, &mut self.cut);
        self.decoder
            .push(chunk, &mut |plain| parser.push(keep(cut, plain), lines))
    }

    /// End of input: flush the decoder and parse a last unterminated line. An error says the gzip stream
    /// ended early (the lines before that point are kept).
    pub fn finish(&mut self) -> Result<(), StreamError> {
        if self.cut_done() {
            // A share read whole: the caller stopped mid-stream on purpose, so the rest of the stream
            // is neither decoded nor reported as missing.
            self.parser.finish(&mut self.lines);
            return Ok(());
        }
        let (parser, lines, cut) = (&mut self.parser, &mut self.lines, &mut self.cut);
        let result = self
            .decoder
            .finish(&mut |plain| parser.push(keep(cut, plain), lines));
        self.parser.finish(&mut self.lines);
        result
    }

    /// The lines parsed since the last call, swapped with `buf` (which should be empty): the caller keeps
    /// one allocation going back and forth.
    pub fn take_lines(&mut self, buf: &mut Vec<Result<Record, LineError>>) {
        std::mem::swap(&mut self.lines, buf);
    }

    /// Frames between window starts in a CSI frame file ([`Parser::set_hop`]). Call before the first push.
    pub fn set_hop(&mut self, hop: usize) {
        self.parser.set_hop(hop);
    }

    /// The input continues a file from a later line ([`Parser::set_continuing`]).
    pub fn set_continuing(&mut self) {
        self.parser.set_continuing();
    }

    /// Lines read so far ([`Parser::lines`]).
    pub fn lines(&self) -> u64 {
        self.parser.lines()
    }

    /// How a CSI frame file was framed (`None` for a paired recording).
    pub fn framing(&self) -> Option<super::Framing> {
        self.parser.framing()
    }

    /// Parse only the lines `cut` keeps of the decoded text (a share of a compressed file split by its
    /// text, [`super::range::LineRange::compressed`]; the input is the file from its first byte). Call
    /// before the first push.
    pub fn cut_decoded(&mut self, cut: LineCut) {
        self.cut = Some(cut);
    }

    /// Whether the share [`Reader::cut_decoded`] keeps has been read whole.
    pub fn cut_done(&self) -> bool {
        self.cut.as_ref().is_some_and(LineCut::is_done)
    }

    /// Whether the input was gzip (known after two bytes).
    pub fn is_gzip(&self) -> bool {
        self.decoder.is_gzip()
    }
}

/// The part of decoded `plain` text a cut keeps (all of it without one).
fn keep<'a>(cut: &mut Option<LineCut>, plain: &'a [u8]) -> &'a [u8] {
    match cut {
        Some(c) => c.keep(plain),
        None => plain,
    }
}
