//! Time-bounded fuzzing of the recording parser (arbitrary bytes, mutated real lines, random chunkings) and
//! of the safetensors reader (arbitrary bytes, mutated CountNet files), both at once.
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

/// How long each fuzz test runs (COUNTSCOPE_FUZZ_SECONDS, default 30), and when it stops.
fn budget() -> (u64, Instant) {
    let secs: u64 = std::env::var("COUNTSCOPE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    (secs, Instant::now() + Duration::from_secs(secs))
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
    let (secs, deadline) = budget();
    let seed_text = common::seed_tail();
    let base: Vec<&[u8]> = seed_text
        .as_bytes()
        .split(|&b| b == b'\n')
        .take(3)
        .collect();
    let base = base.join(&b'\n');
    // RuView's CSI frame files too (recorder and raw ESP32 lines): windows come from the framer.
    let frames = common::frame_lines().into_bytes();
    let (mut cases, mut windows, mut errors) = (0u64, 0u64, 0u64);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    while Instant::now() < deadline {
        let input = if rng.below(3) == 0 {
            (0..rng.below(4096)).map(|_| rng.next() as u8).collect()
        } else {
            mutate(if rng.below(2) == 0 { &base } else { &frames }, &mut rng)
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

/// A small CountNet in safetensors (widths 2–4): valid, so mutations start from a file that builds.
fn tiny_countnet() -> Vec<u8> {
    let shapes: [(&str, Vec<usize>); 14] = [
        ("enc.c1.weight", vec![2, 56, 3]),
        ("enc.c1.bias", vec![2]),
        ("enc.c2.weight", vec![3, 2, 3]),
        ("enc.c2.bias", vec![3]),
        ("enc.c3.weight", vec![4, 3, 3]),
        ("enc.c3.bias", vec![4]),
        ("count_head.fc1.weight", vec![2, 4]),
        ("count_head.fc1.bias", vec![2]),
        ("count_head.fc2.weight", vec![8, 2]),
        ("count_head.fc2.bias", vec![8]),
        ("conf_head.fc1.weight", vec![2, 4]),
        ("conf_head.fc1.bias", vec![2]),
        ("conf_head.fc2.weight", vec![1, 2]),
        ("conf_head.fc2.bias", vec![1]),
    ];
    let values: Vec<Vec<f32>> = shapes
        .iter()
        .map(|(_, s)| {
            (0..s.iter().product::<usize>())
                .map(|i| i as f32 * 0.01)
                .collect()
        })
        .collect();
    let tensors: Vec<(&str, &[usize], &[f32])> = shapes
        .iter()
        .zip(&values)
        .map(|((n, s), v)| (*n, s.as_slice(), v.as_slice()))
        .collect();
    countscope::model::safetensors::write_f32(&tensors, &[("countscope.temperature", "1.5")])
}

fn mutate_safetensors(base: &[u8], rng: &mut Rng) -> Vec<u8> {
    const TOKENS: [&[u8]; 12] = [
        b"\"F16\"",
        b"\"BF16\"",
        b"\"I64\"",
        b"18446744073709551615",
        b"4294967296",
        b"[",
        b"]",
        b",",
        b"}",
        b"\"",
        b"\"enc.c1.weight\"",
        b"-1",
    ];
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(6) {
        match rng.below(6) {
            // The length prefix: near the truth, or anything.
            0 => {
                let n = u64::from_le_bytes(
                    v.get(..8).and_then(|b| b.try_into().ok()).unwrap_or([0; 8]),
                );
                let new = if rng.below(2) == 0 {
                    n.wrapping_add(rng.below(17) as u64).wrapping_sub(8)
                } else {
                    rng.next()
                };
                if v.len() >= 8 {
                    v[..8].copy_from_slice(&new.to_le_bytes());
                }
            }
            1 => {
                let at = rng.below(v.len() + 1);
                let token = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, token.iter().copied()).for_each(drop);
            }
            2 => {
                let at = rng.below(v.len() + 1);
                v.truncate(at);
            }
            3 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            _ => {
                let at = rng.below(v.len() + 1);
                let end = (at + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
        }
    }
    v
}

#[test]
#[ignore = "time-bounded fuzzing: run by `cargo xtask test`"]
fn safetensors_reader_survives_arbitrary_and_mutated_files() {
    use countscope::model::{countnet, CountModel, SafeTensors};
    let (secs, deadline) = budget();
    let base = tiny_countnet();
    assert!(countnet::build(&SafeTensors::parse(&base).unwrap(), "tiny").is_ok());
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let (mut cases, mut parsed, mut built, mut refused) = (0u64, 0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        let input: Vec<u8> = if rng.below(4) == 0 {
            (0..rng.below(2048)).map(|_| rng.next() as u8).collect()
        } else {
            mutate_safetensors(&base, &mut rng)
        };
        let _ = CountModel::inspect(&input);
        match SafeTensors::parse(&input) {
            Ok(st) => {
                parsed += 1;
                for t in st.tensors() {
                    if let Ok(v) = st.values(t) {
                        assert_eq!(v.len(), t.elements(), "{}", t.name);
                    }
                }
                if countnet::build(&st, "fuzz").is_ok() {
                    built += 1;
                }
            }
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty());
            }
        }
        cases += 1;
    }
    println!("fuzz safetensors: {cases} files in {secs} s, {parsed} parsed ({built} built as CountNet), {refused} refused, no panic");
    assert!(
        cases > 100 && parsed > 0 && built > 0 && refused > 0,
        "the fuzzer must exercise every path"
    );
}
