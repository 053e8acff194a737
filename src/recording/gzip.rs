//! Transparent gzip: a recording may arrive compressed (`*.paired.jsonl.gz`), and is recognised by its
//! magic bytes, not its name, so a renamed file or a stream from `fetch` works the same.
//!
//! The decoder is push-based like the parser (compressed chunks in, plain chunks out), so a gzipped 24-hour
//! recording streams through with memory of one chunk. Concatenated gzip members (what `cat a.gz b.gz`
//! makes) are read as one stream. A corrupt or truncated stream stops decoding with a message saying how
//! far it got; everything decoded before that point is kept and replayed.

use flate2::write::MultiGzDecoder;
use std::io::Write;

/// The two bytes every gzip member starts with: how a recording is told to be compressed.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Compressed bytes decoded per step (at most ≈ 4 MiB of plain text each).
const COMPRESSED_SLICE: usize = 4096;

/// Why a gzip stream stopped: everything decoded before it is kept.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StreamError {
    /// The compressed bytes are not valid deflate/gzip.
    #[error("the gzip stream is corrupt in the compressed bytes after {after}: {why}")]
    Corrupt {
        /// Compressed bytes decoded before the damage.
        after: u64,
        /// The decoder's reason.
        why: String,
    },
    /// The input ended inside a gzip member.
    #[error("the gzip stream ends early, after {after} compressed bytes ({why})")]
    EndsEarly {
        /// Compressed bytes decoded.
        after: u64,
        /// The decoder's reason.
        why: String,
    },
}

/// What the input turned out to be.
#[derive(Debug)]
enum State {
    /// Fewer than two bytes seen yet.
    Sniffing(Vec<u8>),
    /// Plain text: passed through.
    Plain,
    /// gzip: decoded into the inner buffer.
    Gzip(Box<MultiGzDecoder<Vec<u8>>>),
    /// The gzip stream failed; further input is ignored.
    Failed,
}

/// Sniffs the first bytes and decompresses gzip input on the fly.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    /// Set once the magic bytes are seen; stays true through failure and after `finish`.
    gzip: bool,
    compressed_in: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Self {
            state: State::Sniffing(Vec::new()),
            gzip: false,
            compressed_in: 0,
        }
    }
}

impl Decoder {
    /// Whether the input is gzip (known after two bytes).
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Feed input bytes; plain bytes are handed to `sink` (possibly in several calls). An error means the
    /// gzip stream is corrupt: the message says where, and later input is ignored.
    pub fn push(&mut self, chunk: &[u8], sink: &mut dyn FnMut(&[u8])) -> Result<(), StreamError> {
        if let State::Sniffing(head) = &mut self.state {
            head.extend_from_slice(chunk);
            if head.len() < 2 {
                return Ok(());
            }
            let head = std::mem::take(head);
            self.gzip = head[..2] == GZIP_MAGIC;
            self.state = if self.gzip {
                State::Gzip(Box::new(MultiGzDecoder::new(Vec::new())))
            } else {
                State::Plain
            };
            return self.push_decided(&head, sink);
        }
        self.push_decided(chunk, sink)
    }

    fn push_decided(
        &mut self,
        chunk: &[u8],
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), StreamError> {
        match &mut self.state {
            State::Plain => sink(chunk),
            State::Gzip(dec) => {
                // Small compressed slices bound the plain bytes held at once (deflate expands at most
                // ≈ 1032×): a gzip bomb cannot make one push allocate gigabytes.
                for piece in chunk.chunks(COMPRESSED_SLICE) {
                    let result = dec.write_all(piece);
                    let out = dec.get_mut();
                    if !out.is_empty() {
                        sink(out);
                        out.clear();
                    }
                    if let Err(e) = result {
                        let at = self.compressed_in;
                        self.state = State::Failed;
                        return Err(StreamError::Corrupt {
                            after: at,
                            why: e.to_string(),
                        });
                    }
                    self.compressed_in += piece.len() as u64;
                }
            }
            State::Sniffing(_) | State::Failed => {}
        }
        Ok(())
    }

    /// End of input: flush what is buffered; an error says the gzip stream ended early.
    pub fn finish(&mut self, sink: &mut dyn FnMut(&[u8])) -> Result<(), StreamError> {
        match std::mem::replace(&mut self.state, State::Plain) {
            State::Sniffing(head) => sink(&head),
            State::Gzip(mut dec) => {
                let result = dec.try_finish();
                let out = dec.get_mut();
                if !out.is_empty() {
                    sink(out);
                }
                if let Err(e) = result {
                    return Err(StreamError::EndsEarly {
                        after: self.compressed_in,
                        why: e.to_string(),
                    });
                }
            }
            State::Failed | State::Plain => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decode(input: &[u8], chunk: usize) -> (Vec<u8>, Result<(), StreamError>) {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for c in input.chunks(chunk.max(1)) {
            if let Err(e) = d.push(c, &mut |b| out.extend_from_slice(b)) {
                return (out, Err(e));
            }
        }
        let r = d.finish(&mut |b| out.extend_from_slice(b));
        (out, r)
    }

    #[test]
    fn plain_and_gzip_decode_the_same_in_any_chunking() {
        let text: Vec<u8> = (0..5000)
            .flat_map(|i| format!("{{\"n\":{i}}}\n").into_bytes())
            .collect();
        let z = gz(&text);
        for chunk in [1, 2, 3, 7, 4096, 1 << 20] {
            assert_eq!(decode(&text, chunk), (text.clone(), Ok(())));
            assert_eq!(decode(&z, chunk), (text.clone(), Ok(())));
        }
        let mut two = z.clone();
        two.extend_from_slice(&gz(b"tail\n"));
        let mut want = text.clone();
        want.extend_from_slice(b"tail\n");
        assert_eq!(decode(&two, 100).0, want);
        assert_eq!(decode(b"x", 1), (b"x".to_vec(), Ok(())));
        assert_eq!(decode(b"", 1), (Vec::new(), Ok(())));
    }

    #[test]
    fn truncated_and_corrupt_streams_keep_what_came_before() {
        let text: Vec<u8> = (0..20000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let z = gz(&text);
        let (out, r) = decode(&z[..z.len() / 2], 1000);
        assert!(matches!(r, Err(StreamError::EndsEarly { .. })), "{r:?}");
        assert!(!out.is_empty() && text.starts_with(&out));
        let mut bad = z.clone();
        bad[z.len() / 3..z.len() / 3 + 64]
            .iter_mut()
            .for_each(|b| *b ^= 0x5a);
        let (out, r) = decode(&bad, 1000);
        assert!(r.is_err(), "corruption must be reported");
        assert!(text.starts_with(&out[..out.len().min(1000)]));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_after_the_magic_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..4096), chunk in 1usize..512) {
            let mut input = GZIP_MAGIC.to_vec();
            input.extend_from_slice(&body);
            let _ = decode(&input, chunk);
        }

        #[test]
        fn damaged_real_streams_never_panic(flips in proptest::collection::vec((0usize..10_000, proptest::num::u8::ANY), 1..8), cut in 0usize..10_000) {
            let text: Vec<u8> = (0..3000).flat_map(|i| format!("{{\"n\":{i}}}\n").into_bytes()).collect();
            let mut z = gz(&text);
            for (at, x) in flips {
                let at = at % z.len();
                z[at] ^= x;
            }
            z.truncate(cut.max(2).min(z.len()));
            let _ = decode(&z, 333);
        }
    }
}
