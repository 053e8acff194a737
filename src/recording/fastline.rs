//! The fast path for a well-formed line: one pass over the bytes with no serde machinery per number.
//!
//! Reading a recording is mostly reading numbers: a window line is 1,120 of them, and serde_json's
//! generic path (`deserialize_any` per element, a visitor call per number) cost a quarter of a native
//! replay. This scanner reads the common shape of a line directly: an object whose keys have no escapes,
//! a `csi` array of plain decimals (flat, or rows of equal length), and any other values, which it
//! validates and skips, or hands to serde_json as `Value`s for the few small fields the line carries.
//!
//! **It only ever answers for lines serde_json would read the same way.** Anything outside that shape
//! (an escape in a key, a non-ASCII or escaped string, an exponent or more than 19 digits in a `csi`
//! number, a duplicate field, nesting deeper than [`MAX_DEPTH`], trailing bytes, an empty array in `csi`,
//! a missing `csi`, any syntax error) makes it answer `None`, and [`super::line::parse_line`] reads the
//! line with serde_json instead, so every error message and every unusual line is exactly as before.
//!
//! A number is computed with serde_json's own arithmetic (serde_json 1.0 without `float_roundtrip`): the
//! digits as one `u64` significand, converted to `f64`, divided by the power of ten its decimals make,
//! negated, then rounded to `f32`. With at most 19 digits the significand cannot overflow, so the result
//! is bit for bit the one serde_json gives; the tests below hold that over generated lines.

use super::line::{Csi, RawLine};
use serde_json::Value;

/// Nesting deeper than this (in values the scanner skips) is left to serde_json, whose own limit is 128.
const MAX_DEPTH: usize = 64;

/// Digits in one `csi` number beyond which the fast path declines (19 cannot overflow a `u64`).
const MAX_DIGITS: usize = 19;

/// Powers of ten up to the most decimals a number here can have, exactly as serde_json's table has them.
const POW10: [f64; MAX_DIGITS + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19,
];

/// Read `bytes` as one line of the common shape, or `None` to leave it to serde_json (see module docs).
pub(crate) fn parse(bytes: &[u8]) -> Option<RawLine> {
    let mut s = Scan { b: bytes, i: 0 };
    s.expect(b'{')?;
    let mut raw = RawLine::default();
    let mut seen = 0u8;
    if s.peek()? == b'}' {
        return None; // no csi: serde_json says so
    }
    loop {
        s.expect(b'"')?;
        let key = s.plain_string()?;
        s.expect(b':')?;
        let field = match key {
            b"csi" => 0,
            b"csi_shape" => 1,
            b"n_persons_mode" => 2,
            b"n_persons_max" => 3,
            b"ts_start" => 4,
            b"ts_end" => 5,
            b"timestamp" => 6,
            b"synthetic" => 7,
            _ => 8,
        };
        if field < 8 {
            if seen & (1 << field) != 0 {
                return None; // a duplicate field is serde_json's error to report
            }
            seen |= 1 << field;
        }
        s.ws();
        let start = s.i;
        match field {
            0 => raw.csi = Some(s.csi()?),
            8 => s.skip_value(0)?,
            _ => {
                s.skip_value(0)?;
                let value = serde_json::from_slice::<Option<Value>>(&bytes[start..s.i]).ok()?;
                let slot = match field {
                    1 => &mut raw.csi_shape,
                    2 => &mut raw.n_persons_mode,
                    3 => &mut raw.n_persons_max,
                    4 => &mut raw.ts_start,
                    5 => &mut raw.ts_end,
                    6 => &mut raw.timestamp,
                    _ => &mut raw.synthetic,
                };
                *slot = value;
            }
        }
        if s.closes(b'}')? {
            break;
        }
    }
    s.ws();
    (s.i == bytes.len() && raw.csi.is_some()).then_some(raw)
}

/// A cursor over one line's bytes.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    /// Skip JSON whitespace.
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// Consume `c` after whitespace.
    #[inline]
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// After an element: consume a comma (`false`: another element follows) or `close` (`true`);
    /// anything else is `None`.
    #[inline]
    fn closes(&mut self, close: u8) -> Option<bool> {
        let c = self.peek()?;
        (c == b',' || c == close).then(|| {
            self.i += 1;
            c == close
        })
    }

    /// The rest of a string whose opening quote was consumed, when it is printable ASCII without escapes.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(&self.b[start..self.i - 1]);
                }
                0x20..=0x7e if self.b[self.i] != b'\\' => self.i += 1,
                _ => return None,
            }
        }
    }

    /// Validate and skip one JSON value (strings as [`Self::plain_string`]).
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => {
                self.i += 1;
                self.plain_string().map(drop)
            }
            b'[' => {
                self.i += 1;
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    if self.closes(b']')? {
                        return Some(());
                    }
                }
            }
            b'{' => {
                self.i += 1;
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.expect(b'"')?;
                    self.plain_string()?;
                    self.expect(b':')?;
                    self.skip_value(depth + 1)?;
                    if self.closes(b'}')? {
                        return Some(());
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.skip_number(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// Skip one number of JSON's grammar (any length, exponent allowed).
    fn skip_number(&mut self) -> Option<()> {
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match *self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            let at = self.i;
            self.digits();
            if self.i == at {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            let at = self.i;
            self.digits();
            if self.i == at {
                return None;
            }
        }
        // "01" is not JSON: a digit cannot follow a lone leading zero.
        (!matches!(self.b.get(self.i), Some(b'0'..=b'9'))).then_some(())
    }

    #[inline]
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// `csi`: a flat array of numbers, or an array of equal-length rows of numbers, none of them empty.
    fn csi(&mut self) -> Option<Csi> {
        self.expect(b'[')?;
        let mut values = Vec::with_capacity(crate::WINDOW_LEN);
        if self.peek()? != b'[' {
            self.numbers(&mut values, b']')?;
            return Some(Csi { values, rows: None });
        }
        let mut row_len = None;
        loop {
            self.expect(b'[')?;
            let before = values.len();
            self.numbers(&mut values, b']')?;
            let n = values.len() - before;
            if *row_len.get_or_insert(n) != n {
                return None;
            }
            if self.closes(b']')? {
                return Some(Csi {
                    values,
                    rows: row_len,
                });
            }
        }
    }

    /// One or more numbers separated by commas, up to and including `close`.
    #[inline]
    fn numbers(&mut self, out: &mut Vec<f32>, close: u8) -> Option<()> {
        loop {
            self.ws();
            out.push(self.number()?);
            if self.closes(close)? {
                return Some(());
            }
        }
    }

    /// One `csi` number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, at most [`MAX_DIGITS`] digits, computed as
    /// serde_json computes it (see the module docs).
    #[inline]
    fn number(&mut self) -> Option<f32> {
        let b = self.b;
        let mut i = self.i;
        let negative = b.get(i) == Some(&b'-');
        i += negative as usize;
        let first = i;
        let mut sig = 0u64;
        match *b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => {
                while let Some(&c @ b'0'..=b'9') = b.get(i) {
                    sig = sig.wrapping_mul(10).wrapping_add((c - b'0') as u64);
                    i += 1;
                }
            }
            _ => return None,
        }
        let mut decimals = 0;
        match b.get(i) {
            Some(b'.') => {
                i += 1;
                let at = i;
                while let Some(&c @ b'0'..=b'9') = b.get(i) {
                    sig = sig.wrapping_mul(10).wrapping_add((c - b'0') as u64);
                    i += 1;
                }
                decimals = i - at;
                // No decimals is not JSON; an exponent is left to serde_json.
                if decimals == 0 || matches!(b.get(i), Some(b'e' | b'E')) {
                    return None;
                }
            }
            // "01": not JSON; an exponent: left to serde_json.
            Some(b'0'..=b'9' | b'e' | b'E') => return None,
            _ => {}
        }
        // Every digit read, the leading zero too: at most 19 cannot have overflowed the significand.
        let digits = i - first - (decimals > 0) as usize;
        if digits > MAX_DIGITS {
            return None;
        }
        let mut f = sig as f64;
        if decimals > 0 {
            f /= POW10[decimals];
        }
        if negative {
            f = -f;
        }
        self.i = i;
        // At most 19 digits: never beyond f32's range, so the finite check on the slow path cannot fail.
        Some(f as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::Rng;

    /// serde_json's reading of a line, as the slow path does it.
    fn slow(bytes: &[u8]) -> Option<RawLine> {
        serde_json::from_slice::<RawLine>(bytes).ok()
    }

    fn same(a: &RawLine, b: &RawLine) -> bool {
        let csi = |r: &RawLine| {
            r.csi.as_ref().map(|c| {
                (
                    c.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    c.rows,
                )
            })
        };
        csi(a) == csi(b)
            && a.csi_shape == b.csi_shape
            && a.n_persons_mode == b.n_persons_mode
            && a.n_persons_max == b.n_persons_max
            && a.ts_start == b.ts_start
            && a.ts_end == b.ts_end
            && a.timestamp == b.timestamp
            && a.synthetic == b.synthetic
    }

    /// A number in one of the spellings a writer might use; with `odd`, also those outside the fast path.
    fn number(rng: &mut Rng, odd: bool) -> String {
        let int = rng.next_u64() % 100;
        match rng.next_u64() % if odd { 17 } else { 10 } {
            // Halfway between two neighbouring f32s (in f64): where the last bit of any difference in
            // the arithmetic decides which way the f32 rounds.
            0 => {
                let x = f32::from_bits(0x3f80_0000 + (rng.next_u64() % 0x0380_0000) as u32);
                let next = f32::from_bits(x.to_bits() + 1);
                format!("{}", (f64::from(x) + f64::from(next)) / 2.0)
            }
            9 => format!("{int}"),
            1 => format!("-{int}"),
            2 => format!("{int}.{}", rng.next_u64() % 10),
            3 => format!("{}", (rng.next_u64() % 100_000) as f64 / 1000.0),
            4 => format!("{}", f64::from(rng.next_u64() as u32) / 7e7),
            5 => format!("{:?}", (rng.next_u64() % 1000) as f32 / 7.0),
            6 => "-0".into(),
            7 => "-0.0".into(),
            8 => "0.000".into(),
            10 => format!("{int}.{:019}", rng.next_u64() % 10_000_000_000_000_000_000),
            11 => format!("{}.{}", rng.next_u64(), rng.next_u64() % 1000),
            12 => format!("{int}e{}", rng.next_u64() % 5),
            13 => format!("{int}.5E-{}", rng.next_u64() % 5),
            14 => format!("0{int}"),
            15 => format!("{int}."),
            _ => format!("12345678901234567.{}", rng.next_u64() % 100),
        }
    }

    fn line(rng: &mut Rng) -> String {
        let (rows, per_row) = match rng.next_u64() % 4 {
            0 => (Some(56), 20),
            1 => (Some(20), 56),
            2 => (Some(3), (rng.next_u64() % 3) as usize),
            _ => (None, 1120),
        };
        // One line in three has one number in any spelling, somewhere.
        let odd_at = rng
            .next_u64()
            .is_multiple_of(3)
            .then(|| (rng.next_u64() % 1120) as usize);
        let mut at = 0;
        let mut csi = String::from("[");
        for r in 0..rows.unwrap_or(1) {
            if r > 0 {
                csi.push(',');
            }
            if rows.is_some() {
                csi.push('[');
            }
            let n = if rows.is_some() && r == 2 && rng.next_u64().is_multiple_of(4) {
                per_row + 1
            } else {
                per_row
            };
            for k in 0..n {
                if k > 0 {
                    csi.push_str([",", ", ", " ,\t"][(rng.next_u64() % 3) as usize]);
                }
                csi.push_str(&number(rng, odd_at == Some(at)));
                at += 1;
            }
            if rows.is_some() {
                csi.push(']');
            }
        }
        csi.push(']');
        let extras = [
            r#""csi_shape":[20,56]"#,
            r#""csi_shape":null"#,
            r#""n_persons_mode":3"#,
            r#""n_persons_mode":null"#,
            r#""n_persons_max":4.0"#,
            r#""ts_start":"2026-05-20T14:31:07.412Z""#,
            r#""ts_end":1779287468.25"#,
            r#""timestamp":1.7e9"#,
            r#""synthetic":"sim v1""#,
            r#""synthetic":false"#,
            r#""kp":[[0.1,-2e-3],{"a":[true,null,"x"]},[]]"#,
            r#""note":"caf\u00e9""#,
            r#""note":"a\"b""#,
            r#""csi_shape":[56,20],"csi_shape":[56,20]"#,
            r#""conf":01"#,
            r#""x\u0063":1"#,
        ];
        let mut fields = vec![format!("\"csi\":{csi}")];
        for _ in 0..rng.next_u64() % 4 {
            fields.push(extras[(rng.next_u64() % extras.len() as u64) as usize].to_string());
        }
        let k = (rng.next_u64() % fields.len() as u64) as usize;
        fields.swap(0, k);
        let sep = [",", " , ", ",\t"][(rng.next_u64() % 3) as usize];
        let tail = ["", " ", "\t", " x", ","][(rng.next_u64() % 5) as usize];
        format!("{{{}}}{tail}", fields.join(sep))
    }

    #[test]
    fn reads_every_line_as_serde_json_does_or_declines() {
        let mut rng = Rng::new(7, 1);
        let (mut fast, mut declined) = (0, 0);
        for _ in 0..4000 {
            let text = line(&mut rng);
            match parse(text.as_bytes()) {
                Some(got) => {
                    let want = slow(text.as_bytes()).unwrap_or_else(|| {
                        panic!("fast path read a line serde_json refuses: {text}")
                    });
                    assert!(same(&got, &want), "fast path differs on {text}");
                    fast += 1;
                }
                None => declined += 1,
            }
        }
        // Both sides of the switch are exercised.
        assert!(
            fast > 400 && declined > 400,
            "fast {fast}, declined {declined}"
        );
    }

    #[test]
    fn reads_numbers_bit_for_bit_as_serde_json() {
        let mut rng = Rng::new(11, 2);
        for _ in 0..20_000 {
            let n = number(&mut rng, true);
            let text = format!("{{\"csi\":[{n}]}}");
            if let Some(got) = parse(text.as_bytes()) {
                let want = slow(text.as_bytes()).expect("serde_json reads it");
                assert!(same(&got, &want), "{n}");
            }
        }
        for n in [
            "0",
            "-0",
            "0.5",
            "-0.0",
            "9999999999999999999",
            "1.234567890123456789",
            "14.4",
        ] {
            let text = format!("{{\"csi\":[{n}]}}");
            let got = parse(text.as_bytes()).expect("plain decimals take the fast path");
            assert!(same(&got, &slow(text.as_bytes()).unwrap()), "{n}");
        }
    }

    #[test]
    fn declines_what_it_does_not_read() {
        for text in [
            r#"{"csi":[1,2]} x"#,
            r#"{"csi":[1;2]}"#,
            r#"{"csi":[1x2]}"#,
            r#"{"csi":[[1];[2]]}"#,
            r#"{"csi":[1];"n":2}"#,
            r#"{"csi":[1],"kp":[1 2]}"#,
            r#"{"csi":[1],"kp":{"a":1;"b":2}}"#,
            r#"{"csi":[1,2],}"#,
            r#"{"csi":[1e3]}"#,
            r#"{"csi":[01]}"#,
            r#"{"csi":[1.]}"#,
            r#"{"csi":[12345678901234567890]}"#,
            r#"{"csi":[]}"#,
            r#"{"csi":[[1,2],[3]]}"#,
            r#"{"csi":[[1],2]}"#,
            r#"{"csi":[1,[2]]}"#,
            r#"{"csi":null}"#,
            r#"{"csi":[1],"csi":[2]}"#,
            r#"{"c\u0073i":[1]}"#,
            r#"{"csi":[1],"note":"é"}"#,
            r#"{"n_persons_mode":1}"#,
            r#"{}"#,
            r#"[1]"#,
            r#"{"csi":[1],"kp":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
        ] {
            assert!(parse(text.as_bytes()).is_none(), "{text}");
        }
    }

    #[test]
    fn reads_the_shapes_recordings_have() {
        let flat: Vec<String> = (0..1120)
            .map(|i| format!("{}.{}", i % 60, i % 10))
            .collect();
        let text = format!(
            "{{\"csi\":[{}],\"csi_shape\":[20,56],\"n_persons_mode\":2,\"n_persons_max\":3,\"ts_start\":\"2026-05-20T14:31:07.412Z\",\"ts_end\":1779287468.2,\"synthetic\":\"sim\",\"kp\":[[0.1,0.2]],\"conf\":0.9}}",
            flat.join(",")
        );
        let got = parse(text.as_bytes()).expect("a RuView line takes the fast path");
        assert!(same(&got, &slow(text.as_bytes()).unwrap()));
        let rows: Vec<String> = (0..56)
            .map(|s| {
                format!(
                    "[{}]",
                    (0..20)
                        .map(|f| format!("{s}.{f}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        let text = format!("{{ \"csi\" : [{}] }}", rows.join(", "));
        let got = parse(text.as_bytes()).expect("nested rows take the fast path");
        assert_eq!(got.csi.as_ref().unwrap().rows, Some(20));
        assert!(same(&got, &slow(text.as_bytes()).unwrap()));
    }
}
