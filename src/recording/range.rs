//! Splitting a plain recording by bytes, so several workers each read only their share of a file.
//!
//! A file of `len` bytes is cut into ranges `[start, end)`; a range owns every line whose first byte lies in
//! it. Its reader begins one byte early ([`LineRange::read_from`]), so it can tell whether a line begins
//! exactly at `start` (the byte before is a newline) or whether it is inside a line the range before owns
//! (skipped up to its newline); and it reads past `end` to the newline of the line that straddles `end`.
//! Every line is then read by exactly one range, whole, however long it is: a line longer than a range
//! leaves the ranges it covers empty. Concatenating the ranges' owned bytes in order gives the file back.
//!
//! A gzip file is split by the offsets of its decompressed text instead ([`LineRange::compressed`]): every
//! share's reader decodes the file from its first byte, which cannot be skipped, and parses only its own
//! lines, stopping at its share's end. Decoding is the cheaper half of reading (about twice as fast as
//! parsing), so each reader still saves the parsing of the other shares. The decompressed length is known
//! only from the gzip trailer (its length modulo 2³², of the last member only), so it is a hint: the last
//! share runs on to the end of the text whatever it says, and a wrong hint unbalances the shares without
//! losing or repeating a line.
//!
//! Only a file of lines that each stand alone (paired windows, not CSI frames, which are framed into
//! windows across lines) can be split this way; [`LineRange::plan`] decides from its head.

/// The smallest share worth a worker of its own: below this, splitting costs more than it saves.
pub const MIN_RANGE_BYTES: u64 = 1 << 20;

/// How much of a gzip file's decoded head [`LineRange::plan`] keeps to read its first line.
const HEAD_TEXT: usize = 1 << 16;

/// One share of a file split by bytes: the lines that start in `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineRange {
    /// First byte of the share.
    pub start: u64,
    /// One past its last byte (the file's length for the last share; `u64::MAX` for the last share of
    /// a compressed file, whose length is only a hint).
    pub end: u64,
    /// The file is gzip: `start` and `end` are offsets in its decompressed text, and the share's reader
    /// reads the file from its first byte and cuts after decoding.
    pub compressed: bool,
}

impl LineRange {
    /// A file of `len` bytes cut into at most `parts` ranges of nearly equal size: no more ranges than
    /// whole or started [`MIN_RANGE_BYTES`] in the file, so a file of at most that size stays whole and
    /// no range is smaller than half of it. Always at least one range.
    pub fn split(len: u64, parts: usize) -> Vec<LineRange> {
        let parts = (parts.max(1) as u64)
            .min(len.div_ceil(MIN_RANGE_BYTES))
            .max(1);
        (0..parts)
            .map(|k| LineRange {
                start: len * k / parts,
                end: len * (k + 1) / parts,
                compressed: false,
            })
            .collect()
    }

    /// How `parts` readers share a file of `size` bytes that begins with `head` (its first 64 KiB or so)
    /// and ends with `tail` (its last 4 bytes: a gzip file's trailer holds its decompressed length):
    /// `None` when each must read it whole (a CSI frame file, whose windows span lines; a first line
    /// longer than what `head` holds, so its kind is unknown; or a file too small to split), else exactly
    /// `parts` ranges in file order, the last ones empty when there are fewer shares than readers. A gzip
    /// file is split by its decompressed text ([`LineRange::compressed`]), its first line read from the
    /// decoded head.
    pub fn plan(head: &[u8], tail: &[u8], size: u64, parts: usize) -> Option<Vec<LineRange>> {
        if head.starts_with(&super::gzip::GZIP_MAGIC) {
            let plain_len = u32::from_le_bytes(tail.try_into().ok()?);
            let mut plain = Vec::new();
            // A head cut mid-stream decodes as far as it goes; what it says after that is not needed.
            // Only the first 64 KiB of text are kept: a head that inflates a thousandfold (a gzip bomb)
            // costs decoding time here, not memory.
            let _ = super::Decoder::default().push(head, &mut |b| {
                let room = HEAD_TEXT.saturating_sub(plain.len());
                plain.extend_from_slice(&b[..b.len().min(room)]);
            });
            let mut ranges = Self::plan_plain(&plain, plain_len.into(), parts)?;
            for r in &mut ranges {
                r.compressed = true;
            }
            // The trailer's length is a hint (modulo 2³², the last member's only): the last share that owns
            // anything reads on to the end of the text.
            let last = ranges.iter().rposition(|r| r.start < r.end)?;
            ranges[last].end = u64::MAX;
            for r in &mut ranges[last + 1..] {
                (r.start, r.end) = (u64::MAX, u64::MAX);
            }
            return Some(ranges);
        }
        Self::plan_plain(head, size, parts)
    }

    /// [`LineRange::plan`] for plain text of `size` bytes beginning with `head`.
    fn plan_plain(head: &[u8], size: u64, parts: usize) -> Option<Vec<LineRange>> {
        let head = head.strip_prefix(super::parser::BOM).unwrap_or(head);
        // The first line that is not blank decides, and it must be whole.
        let whole = &head[..memchr::memrchr(b'\n', head)?];
        let line = whole
            .split(|&b| b == b'\n')
            .find(|l| !l.iter().all(u8::is_ascii_whitespace))?;
        if super::frames::is_frame_line(line, false) {
            return None;
        }
        let mut ranges = LineRange::split(size, parts);
        if ranges.len() < 2 {
            return None;
        }
        while ranges.len() < parts {
            ranges.push(LineRange {
                start: size,
                end: size,
                compressed: false,
            });
        }
        Some(ranges)
    }

    /// Where the share's reader begins in the file: one byte before `start` (to see whether a line begins
    /// at `start`), or 0; always 0 for a compressed file, which is decoded from its first byte.
    pub fn read_from(&self) -> u64 {
        if self.compressed {
            0
        } else {
            self.first_byte()
        }
    }

    /// The first byte of the (decompressed) text the cut looks at: one before `start`, or 0.
    fn first_byte(&self) -> u64 {
        self.start.saturating_sub(1)
    }

    /// Whether this is the file's first share (the one that sees its first line, and any byte-order mark).
    pub fn is_first(&self) -> bool {
        self.start == 0
    }

    /// The filter that takes the bytes read from [`LineRange::read_from`] on (for a compressed file, its
    /// decoded text from the first byte) and keeps this share's.
    pub fn cut(&self) -> LineCut {
        LineCut {
            pos: self.read_from(),
            from: self.first_byte(),
            end: self.end,
            state: if self.start == 0 {
                Cut::Owned
            } else {
                Cut::Before
            },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    /// Inside the line before the share (or at the byte before `start`): dropped up to its newline.
    Before,
    /// Inside the share's lines.
    Owned,
    /// Inside the line that began before `end` and goes on past it: kept up to its newline.
    Straddling,
    /// Past the share's last line: nothing more is kept.
    Done,
}

/// The running filter of one [`LineRange`]: chunks in (any size, in order, from `read_from`), the share's
/// bytes out.
#[derive(Clone, Debug)]
pub struct LineCut {
    /// The file offset of the next byte to come.
    pos: u64,
    /// Bytes before this offset are dropped unseen (a compressed file's text before the share).
    from: u64,
    end: u64,
    state: Cut,
}

impl LineCut {
    /// The part of `chunk` this share owns (possibly empty). `chunk` is the next bytes of the file.
    pub fn keep<'a>(&mut self, chunk: &'a [u8]) -> &'a [u8] {
        if self.pos < self.from {
            let skip = (self.from - self.pos).min(chunk.len() as u64);
            self.pos += skip;
            if self.pos < self.from {
                return &[];
            }
            // `skip` ≤ chunk.len(), so it fits a usize.
            return self.keep(&chunk[skip as usize..]);
        }
        if chunk.is_empty() {
            return chunk;
        }
        let at = self.pos;
        self.pos += chunk.len() as u64;
        match self.state {
            Cut::Done => &[],
            Cut::Before => match memchr::memchr(b'\n', chunk) {
                None => &[],
                Some(nl) => {
                    // The share's first line begins after this newline, if it begins before `end`.
                    let line_start = at + nl as u64 + 1;
                    if line_start >= self.end {
                        self.state = Cut::Done;
                        return &[];
                    }
                    // The rest of the chunk, from that line's first byte, is read as owned.
                    self.state = Cut::Owned;
                    self.pos = line_start;
                    self.keep(&chunk[nl + 1..])
                }
            },
            Cut::Owned => {
                // Compared as u64: `end` may be far past a 32-bit usize (`u64::MAX` when open).
                if (chunk.len() as u64) < self.end - at {
                    return chunk;
                }
                let before_end = (self.end - at) as usize;
                // The line holding byte `end - 1` is the last owned: keep through its newline. (If that
                // byte is itself a newline, the next line begins at `end` and is the next share's.)
                match memchr::memchr(b'\n', &chunk[before_end - 1..]) {
                    Some(nl) => {
                        self.state = Cut::Done;
                        &chunk[..before_end + nl]
                    }
                    None => {
                        self.state = Cut::Straddling;
                        chunk
                    }
                }
            }
            Cut::Straddling => match memchr::memchr(b'\n', chunk) {
                Some(nl) => {
                    self.state = Cut::Done;
                    &chunk[..nl + 1]
                }
                None => chunk,
            },
        }
    }

    /// Whether the share's last line has been read: the caller can stop reading.
    pub fn is_done(&self) -> bool {
        self.state == Cut::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Each range's owned bytes, read in chunks of `chunk` bytes from its `read_from`.
    fn owned(file: &[u8], ranges: &[LineRange], chunk: usize) -> Vec<Vec<u8>> {
        ranges
            .iter()
            .map(|r| {
                let mut cut = r.cut();
                let mut out = Vec::new();
                for c in file[r.read_from() as usize..].chunks(chunk.max(1)) {
                    out.extend_from_slice(cut.keep(c));
                    if cut.is_done() {
                        break;
                    }
                }
                out
            })
            .collect()
    }

    fn ranges(len: u64, cuts: &[u64]) -> Vec<LineRange> {
        ranges_of(len, cuts, false)
    }

    /// Ranges cut at `cuts`; `compressed` ones as [`LineRange::plan`] makes them (the last one open).
    fn ranges_of(len: u64, cuts: &[u64], compressed: bool) -> Vec<LineRange> {
        let mut edges = vec![0];
        edges.extend(cuts.iter().copied().filter(|&c| c > 0 && c < len));
        edges.push(len);
        edges.sort_unstable();
        edges.dedup();
        edges
            .windows(2)
            .map(|w| LineRange {
                start: w[0],
                end: if compressed && w[1] == len {
                    u64::MAX
                } else {
                    w[1]
                },
                compressed,
            })
            .collect()
    }

    #[test]
    fn a_line_belongs_to_the_range_its_first_byte_is_in() {
        let file = b"aa\nbbbb\ncc\n";
        // Cut at 3 (a line starts there), at 5 (inside "bbbb"), and at 8 (the start of "cc").
        for (cuts, want) in [
            (vec![3], vec!["aa\n", "bbbb\ncc\n"]),
            (vec![5], vec!["aa\nbbbb\n", "cc\n"]),
            (vec![8], vec!["aa\nbbbb\n", "cc\n"]),
            (vec![2], vec!["aa\n", "bbbb\ncc\n"]),
            (vec![4, 6], vec!["aa\nbbbb\n", "", "cc\n"]),
        ] {
            let got = owned(file, &ranges(file.len() as u64, &cuts), 1);
            let got: Vec<String> = got
                .into_iter()
                .map(|b| String::from_utf8(b).unwrap())
                .collect();
            assert_eq!(got, want, "cut at {cuts:?}");
        }
    }

    #[test]
    fn a_line_longer_than_a_range_is_read_once_whole() {
        let mut file = b"head\n".to_vec();
        file.extend(std::iter::repeat_n(b'x', 5000));
        file.extend_from_slice(b"\ntail");
        let got = owned(
            &file,
            &ranges(file.len() as u64, &[1000, 2000, 3000, 4000]),
            7,
        );
        assert_eq!(
            got[0].len(),
            5 + 5001,
            "the first range reads the long line whole"
        );
        assert!(
            got[1..4].iter().all(Vec::is_empty),
            "the ranges inside it read nothing"
        );
        assert_eq!(got[4], b"tail");
    }

    #[test]
    fn small_files_stay_whole_and_big_ones_split_evenly() {
        assert_eq!(
            LineRange::split(10, 4),
            vec![LineRange {
                start: 0,
                end: 10,
                compressed: false
            }]
        );
        assert_eq!(
            LineRange::split(0, 4),
            vec![LineRange {
                start: 0,
                end: 0,
                compressed: false
            }]
        );
        let r = LineRange::split(10 * MIN_RANGE_BYTES, 4);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].start, 0);
        assert_eq!(r[3].end, 10 * MIN_RANGE_BYTES);
        assert!(r.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(LineRange::split(3 * MIN_RANGE_BYTES / 2, 4).len(), 2);
    }

    #[test]
    fn only_files_of_window_lines_are_split() {
        let big = 10 * MIN_RANGE_BYTES;
        let paired = b"\n{\"csi\": [1, 2], \"n_persons\": 1}\n{\"csi\"";
        let ranges = LineRange::plan(paired, &[], big, 4).expect("a paired file splits");
        assert_eq!(ranges.len(), 4);
        assert_eq!(ranges[3].end, big);
        // Fewer shares than readers: the last readers get empty ranges at the end.
        let two = LineRange::plan(paired, &[], 2 * MIN_RANGE_BYTES, 4).unwrap();
        assert_eq!(
            two[2..],
            [LineRange {
                start: 2 * MIN_RANGE_BYTES,
                end: 2 * MIN_RANGE_BYTES,
                compressed: false
            }; 2]
        );
        let frames = b"{\"timestamp\": 1.0, \"subcarriers\": [1, 2]}\n";
        assert_eq!(
            LineRange::plan(frames, &[], big, 4),
            None,
            "a CSI frame file"
        );
        assert_eq!(
            LineRange::plan(b"{\"csi\": [1, 2", &[], big, 4),
            None,
            "no whole line in the head"
        );
        assert_eq!(LineRange::plan(paired, &[], 1000, 4), None, "too small");
        // An empty range at the end owns nothing.
        let file = b"a\nb\n";
        let mut cut = LineRange {
            start: 4,
            end: 4,
            compressed: false,
        }
        .cut();
        assert_eq!(cut.keep(&file[3..]), b"");
        assert!(cut.is_done());
    }

    /// gzip of `plain`, and its last 4 bytes (the trailer's length).
    fn gzip(plain: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(plain).unwrap();
        z.finish().unwrap()
    }

    #[test]
    fn a_gzip_file_splits_by_its_decompressed_text_from_its_head_and_trailer() {
        let line = b"{\"csi\": [1, 2], \"n_persons\": 1}\n";
        let plain = line.repeat(3 * MIN_RANGE_BYTES as usize / line.len());
        let gz = gzip(&plain);
        let (head, tail) = (&gz[..gz.len().min(65_536)], &gz[gz.len() - 4..]);
        let ranges = LineRange::plan(head, tail, gz.len() as u64, 4).expect("splits");
        assert_eq!(ranges.len(), 4);
        assert!(ranges.iter().all(|r| r.compressed && r.read_from() == 0));
        assert_eq!(ranges[0].start, 0);
        assert_eq!(ranges[1].start, plain.len() as u64 / 3);
        assert_eq!(ranges[2].end, u64::MAX, "the last share runs to the end");
        assert_eq!(
            ranges[3].start,
            u64::MAX,
            "readers past the shares get none"
        );
        // The shares' text, each cut from the whole decoded text, is the text.
        let parts = owned(&plain, &ranges, 65_536);
        assert_eq!(parts.concat(), plain);
        assert!(parts[..3].iter().all(|p| !p.is_empty()));
        // No trailer, no split; a small text, no split; a CSI frame file, no split.
        assert_eq!(LineRange::plan(head, &[], gz.len() as u64, 4), None);
        let small = gzip(&line.repeat(10));
        assert_eq!(
            LineRange::plan(&small, &small[small.len() - 4..], 1000, 4),
            None
        );
        let frames = gzip(&b"{\"timestamp\": 1.0, \"subcarriers\": [1, 2]}\n".repeat(100_000));
        assert_eq!(
            LineRange::plan(
                &frames[..frames.len().min(65_536)],
                &frames[frames.len() - 4..],
                0,
                4
            ),
            None,
            "a CSI frame file"
        );
        // Only 64 KiB of decoded text are read for the first line, as of a plain file's head: a first
        // line longer than that leaves the file unsplit (and a head that inflates hugely costs no memory).
        let mut long = vec![b' '; 100_000];
        long.extend_from_slice(&plain);
        let long = gzip(&long);
        assert_eq!(
            LineRange::plan(
                &long[..long.len().min(65_536)],
                &long[long.len() - 4..],
                0,
                4
            ),
            None
        );
        // A trailer that says too little (a second member's, say) loses nothing: the last share reads on.
        let mut wrong = gz.clone();
        let n = wrong.len();
        wrong[n - 4..].copy_from_slice(&(2 * MIN_RANGE_BYTES as u32).to_le_bytes());
        let ranges = LineRange::plan(head, &wrong[n - 4..], n as u64, 4).unwrap();
        assert_eq!(owned(&plain, &ranges, 4093).concat(), plain);
    }

    proptest! {
        /// However the file is cut and chunked, the ranges' bytes in order are the file, and each range's
        /// bytes are whole lines (only the file's last line may lack its newline).
        #[test]
        fn the_ranges_give_the_file_back(
            lines in prop::collection::vec("[a-c]{0,12}", 0..30),
            end_newline in any::<bool>(),
            cuts in prop::collection::vec(0u64..400, 0..6),
            chunk in 1usize..17,
            compressed in any::<bool>(),
        ) {
            let mut file = lines.join("\n").into_bytes();
            if end_newline && !file.is_empty() {
                file.push(b'\n');
            }
            let parts = owned(&file, &ranges_of(file.len() as u64, &cuts, compressed), chunk);
            prop_assert_eq!(parts.concat(), file.clone());
            let last_nonempty = parts.iter().rposition(|p| !p.is_empty());
            for (i, p) in parts.iter().enumerate() {
                if !p.is_empty() && Some(i) != last_nonempty {
                    prop_assert_eq!(p.last(), Some(&b'\n'));
                }
            }
        }
    }
}
