//! Time-bounded fuzzing of the recording parser: arbitrary bytes, mutated real lines, random chunkings.
//! `cargo xtask test` runs it with `--ignored` for COUNTSCOPE_FUZZ_SECONDS (default 30). The quick
//! property tests beside the parser (src/recording/parser.rs) run in every `cargo test`.

mod common;
use countscope::{LayoutPolicy, LineError, Parser, Record};
use std::time::{Duration, Instant};

/// xorshift64*: deterministic per seed, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn parse(bytes: &[u8], rng: &mut Rng, policy: LayoutPolicy) -> Vec<Result<Record, LineError>> {
    let mut p = Parser::new(policy);
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let max = if rng.below(4) == 0 { 7 } else { 9000 };
        let n = 1 + rng.below(max);
        let (head, tail) = rest.split_at(n.min(rest.len()));
        p.push(head, &mut out);
        rest = tail;
    }
    p.finish(&mut out);
    out
}

fn mutate(base: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = base.to_vec();
    const TOKENS: [&[u8]; 14] = [
        b"\n",
        b"\r\n",
        b"\xEF\xBB\xBF",
        b"null",
        b"1e999",
        b"-",
        b"[",
        b"]",
        b"{",
        b"\"",
        b"NaN",
        b"[20,70]",
        b"\xff\xfe",
        b"-1",
    ];
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(v.len() + 1);
        match rng.below(4) {
            0 if !v.is_empty() => {
                let (i, b) = (at.min(v.len() - 1), rng.next() as u8);
                v[i] = b;
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, token.iter().copied()).for_each(drop);
            }
            2 => v.truncate(at),
            _ => {
                let end = (at + rng.below(64)).min(v.len());
                v.drain(at..end);
            }
        }
    }
    v
}

#[test]
#[ignore = "time-bounded fuzzing: run by `cargo xtask test`"]
fn parser_survives_arbitrary_and_mutated_input() {
    let secs: u64 = std::env::var("COUNTSCOPE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let seed_text = common::seed_tail();
    let base: Vec<&[u8]> = seed_text
        .as_bytes()
        .split(|&b| b == b'\n')
        .take(3)
        .collect();
    let base = base.join(&b'\n');
    let (mut cases, mut windows, mut errors) = (0u64, 0u64, 0u64);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    while Instant::now() < deadline {
        let input = if rng.below(3) == 0 {
            (0..rng.below(4096)).map(|_| rng.next() as u8).collect()
        } else {
            mutate(&base, &mut rng)
        };
        let policy = [
            LayoutPolicy::Labelled,
            LayoutPolicy::FrameMajor,
            LayoutPolicy::AsStored,
        ][rng.below(3)];
        let n_lines = input.split(|&b| b == b'\n').count() as u64;
        let a = parse(&input, &mut rng, policy);
        let b = parse(&input, &mut rng, policy);
        assert_eq!(a, b, "chunking changed the result (case {cases})");
        for r in &a {
            let line = match r {
                Ok(r) => {
                    windows += 1;
                    assert_eq!(r.window.len(), countscope::WINDOW_LEN);
                    assert!(r.window.iter().all(|x| x.is_finite()));
                    r.line
                }
                Err(e) => {
                    errors += 1;
                    assert!(!e.reason.is_empty() && !e.reason.contains('\n'));
                    e.line
                }
            };
            assert!((1..=n_lines).contains(&line));
        }
        cases += 1;
    }
    println!("fuzz: {cases} inputs in {secs} s, {windows} windows, {errors} line errors, no panic");
    assert!(
        cases > 100 && windows > 0 && errors > 0,
        "the fuzzer must exercise both paths"
    );
}
