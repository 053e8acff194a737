//! Winograd's minimal filtering F(5, 3) for `DirectConv1d`'s three-tap convolutions: five outputs
//! of a three-tap filter from seven products instead of fifteen.
//!
//! Why: the convolutions are ninety per cent of the count model's time, and by a count of its
//! multiply-adds against the clock the frame-lane kernel ran them at about half of what 128-bit
//! multiply-adds allow (docs/performance.md), so fewer products is the
//! one change large enough to matter. A dilated convolution is `dilation` ordinary ones, one per
//! phase (frames r, r + d, r + 2d, …), and each phase is cut into tiles of five outputs; the
//! count model's 20 frames make four tiles at dilation 1, two phases of two at dilation 2 and
//! four phases of one at dilation 4: 28 products per pair of channels where the direct kernel
//! takes 60, at every layer.
//!
//! The algorithm, per tile, with `d` its seven inputs (Lavin and Gray's notation; Cook–Toom with
//! the points 0, ±1, ±½, −2 and ∞, the set of those tried with the smallest rounding error on the
//! sample model):
//! - `U = Bᵀ d` per input channel and `V = G g` per weight row, the latter once at load;
//! - `M[i] = Σ_c V[i][o][c] × U[i][c]` for each of the seven points i: seven matrix products,
//!   each run by the frame-lane kernel with one tap and its vectors along the tiles;
//! - `y = Aᵀ M`: five outputs, then the bias, the ReLU and the optional sum over the frames.
//!
//! Layout: the windows of a batch lie along the lanes (four per vector, the batch padded to
//! whole vectors), so both transforms are plain vector arithmetic: the padded input is
//! `[c_in][frame][window]`, `U[i]` is `[c_in][tile × windows]`, `M[i]` is `[c_out][tile ×
//! windows]`.
//!
//! Precision: Bᵀ and Aᵀ are exact in binary; G's thirds, ninths and fifteenths are rounded once,
//! from f64, when the weights are transformed. Against an f64 reference over the bench's 2,240
//! windows and the sample model (numpy, same arithmetic), the logits' rounding error is 4.8e-7
//! RMS (a direct f32 convolution's: 2.3e-7; tract's native build's: 3.1e-7) and 5.1e-6 at most
//! (9.1e-6 and 2.4e-6). The other point sets tried (±2 with ½ or −½; ±½ with 2 or 3; ½, 2 and −⅓)
//! gave 5.0e-7 to 7.2e-7 RMS. Unit tests hold every output to a scalar f64 convolution within
//! 2e-6 of its scale (`|b| + Σ |w x|`), as the direct kernel is: an absolute bound would fail
//! outputs near zero whose sum had large terms. Over the tests' shapes Winograd's outputs are off by
//! at most 7.4e-7 of their scale, the direct kernel's by 1.6e-7.

use super::frames::{self, LANES, ROWS, VECS};
use super::wasm::madd;
use std::arch::wasm32::*;

/// Outputs per tile.
pub const OUT: usize = 5;
/// Taps of the filters this covers.
pub const TAPS: usize = 3;
/// Inputs per tile, and products per tile and channel pair.
pub const POINTS: usize = OUT + TAPS - 1;

/// G: three taps to the seven points (applied in f64, once per model).
const G: [[f64; TAPS]; POINTS] = [
    [2.0, 0.0, 0.0],
    [2.0 / 9.0, 2.0 / 9.0, 2.0 / 9.0],
    [2.0 / 3.0, -2.0 / 3.0, 2.0 / 3.0],
    [-16.0 / 15.0, -8.0 / 15.0, -4.0 / 15.0],
    [-16.0 / 9.0, 8.0 / 9.0, -4.0 / 9.0],
    [-2.0 / 45.0, 4.0 / 45.0, -8.0 / 45.0],
    [0.0, 0.0, 1.0],
];

/// One tile: up to five outputs of one phase, at frames `phase + (first + q) × dilation`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tile {
    phase: usize,
    first: usize,
    /// Outputs of the five that fall inside the output (the phase's last tile may be short).
    outputs: usize,
}

/// A convolution planned for F(5, 3): its tiles and its transformed weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Winograd {
    c_in: usize,
    c_out: usize,
    dilation: usize,
    pad_before: usize,
    t_in: usize,
    t_out: usize,
    tiles: Vec<Tile>,
    /// Frames per channel of the padded input: every position a tile reads.
    frames: usize,
    /// Per point, `G g` for every weight row as the frame-lane kernel reads it
    /// ([`frames::splat_weights`] with one tap).
    weights: Vec<f32>,
}

impl Winograd {
    /// The plan for a convolution `[c_out][c_in][3]` of stride 1, or `None` where the direct
    /// kernel does less work: fewer than eight channels on either side (the transforms would cost
    /// as much as the products they save), or too few outputs per phase to fill a tile.
    pub fn plan(
        weights: &[f32],
        (c_in, c_out): (usize, usize),
        dilation: usize,
        pad_before: usize,
        (t_in, t_out): (usize, usize),
    ) -> Option<Self> {
        if c_in < 8 || c_out < 8 || dilation == 0 || t_out == 0 {
            return None;
        }
        let mut tiles = Vec::new();
        for phase in 0..dilation.min(t_out) {
            let len = (t_out - phase).div_ceil(dilation);
            for first in (0..len).step_by(OUT) {
                tiles.push(Tile {
                    phase,
                    first,
                    outputs: (len - first).min(OUT),
                });
            }
        }
        // Products per pair of channels and window: seven per tile here, three per frame of whole
        // vectors there. Winograd only where it saves a fifth, to pay for its transforms.
        let direct = TAPS * t_out.div_ceil(LANES) * LANES;
        if 5 * POINTS * tiles.len() > 4 * direct {
            return None;
        }
        let frames = tiles
            .iter()
            .map(|t| t.phase + (t.first + POINTS - 1) * dilation + 1)
            .max()?;
        let mut transformed = vec![0f32; POINTS * c_out * c_in];
        for (row, g) in weights.chunks_exact(TAPS).enumerate() {
            for (i, gi) in G.iter().enumerate() {
                let v: f64 = gi.iter().zip(g).map(|(a, b)| a * *b as f64).sum();
                transformed[i * c_out * c_in + row] = v as f32;
            }
        }
        let weights = transformed
            .chunks_exact(c_out * c_in)
            .flat_map(|point| frames::splat_weights(point, c_out, c_in))
            .collect();
        Some(Winograd {
            c_in,
            c_out,
            dilation,
            pad_before,
            t_in,
            t_out,
            tiles,
            frames,
            weights,
        })
    }

    /// Every window of a batch: `xs` is `[batch, c_in, t_in]`; `ys` is `[batch, c_out, t_out]`, or
    /// `[batch, c_out]` when `sum` scales each channel's sum over its frames. `bias` has one value
    /// per output channel (padded to whole pairs); `floor` is the ReLU.
    ///
    /// The windows go [`CHUNK`] at a time, whatever the batch: the transformed input and products
    /// of 16 windows (229 KB each for the count model's largest layer) fit in a second-level
    /// cache, their columns make four kernel tiles of four vectors (batch 16 measured faster than
    /// 20 or 32 before passes existed), and a large batch costs no more memory than 16 windows do.
    pub fn run(
        &self,
        xs: &[f32],
        ys: &mut [f32],
        batch: usize,
        bias: &[f32],
        floor: Option<f32>,
        sum: Option<f32>,
    ) {
        let per_in = self.c_in * self.t_in;
        let per_out = self.c_out * if sum.is_some() { 1 } else { self.t_out };
        let mut scratch = Scratch::default();
        for start in (0..batch).step_by(CHUNK) {
            let n = (batch - start).min(CHUNK);
            self.chunk(
                &xs[start * per_in..][..n * per_in],
                &mut ys[start * per_out..][..n * per_out],
                n,
                (bias, floor, sum),
                &mut scratch,
            );
        }
    }

    /// [`run`](Self::run) for at most [`CHUNK`] windows.
    fn chunk(
        &self,
        xs: &[f32],
        ys: &mut [f32],
        batch: usize,
        (bias, floor, sum): (&[f32], Option<f32>, Option<f32>),
        scratch: &mut Scratch,
    ) {
        let (c_in, c_out) = (self.c_in, self.c_out);
        let windows = batch.next_multiple_of(LANES);
        let cols = self.tiles.len() * windows;
        let rows = c_out.div_ceil(ROWS) * ROWS;
        let Scratch { x, u, m, row } = scratch;

        // The padded input, windows along the lanes: [c_in][frame][window].
        zeroed(x, c_in * self.frames * windows);
        self.transpose_in(xs, batch, windows, x);

        // U = Bᵀ d: [point][c_in][tile × windows].
        let u = sized(u, POINTS * c_in * cols);
        for c in 0..c_in {
            for (k, tile) in self.tiles.iter().enumerate() {
                let first = tile.phase + tile.first * self.dilation;
                for n in (0..windows).step_by(LANES) {
                    let mut d = [f32x4_splat(0.0); POINTS];
                    for (a, v) in d.iter_mut().enumerate() {
                        let at = (c * self.frames + first + a * self.dilation) * windows + n;
                        // SAFETY: `at + 4 ≤ x.len()`: the tile's positions are below `frames`
                        // (plan) and n + 4 ≤ windows.
                        *v = unsafe { v128_load(x.as_ptr().add(at) as *const v128) };
                    }
                    for (i, p) in input_transform(&d).iter().enumerate() {
                        let at = (i * c_in + c) * cols + k * windows + n;
                        // SAFETY: i < 7, c < c_in, k × windows + n + 4 ≤ cols: inside `u`.
                        unsafe { v128_store(u.as_mut_ptr().add(at) as *mut v128, *p) };
                    }
                }
            }
        }

        // M[i] = V[i] U[i]: [point][rows][tile × windows], on the frame-lane kernel with one tap.
        let m = sized(m, POINTS * rows * cols);
        let shape = frames::Shape {
            c_in,
            taps: 1,
            dilation: 1,
            stride: cols,
        };
        let per_pair = c_in * ROWS * LANES;
        let pairs = rows / ROWS;
        let vectors = cols / LANES;
        let tiles = vectors.div_ceil(VECS);
        for i in 0..POINTS {
            let (wi, ui) = (i * pairs * per_pair, i * c_in * cols);
            for pair in 0..pairs {
                let w = self.weights[wi + pair * per_pair..][..per_pair].as_ptr();
                let out = (i * rows + pair * ROWS) * cols;
                let mut v0 = 0;
                for t in 0..tiles {
                    // As even as five vectors at most allow: 16 vectors are four tiles of four.
                    let v = (vectors - v0) / (tiles - t);
                    let col = v0 * LANES;
                    let (r0, r1) = m[out + col..].split_at_mut(cols);
                    // SAFETY: `w` is this pair's c_in × 2 × 4 weights; each of the c_in rows of
                    // U[i] holds `cols` floats and the tile reads 4 v of them from `col`, with
                    // col + 4 v ≤ cols; each out row starts 4 v writable floats (the pair's two rows
                    // of M[i], rows ≤ pairs × 2).
                    unsafe {
                        frames::run(
                            shape,
                            frames::Tile {
                                w,
                                x: u[ui + col..].as_ptr(),
                                bias: [0.0; ROWS],
                                floor: None,
                                out: [r0.as_mut_ptr(), r1.as_mut_ptr()],
                                frames: v * LANES,
                            },
                        )
                    };
                    v0 += v;
                }
            }
        }

        // y = Aᵀ M, the bias, the ReLU, and the frames' sum where asked: each output channel's
        // frames for four windows gather in `row` (one vector per frame), then go out window by
        // window.
        row.clear();
        row.resize(self.t_out, f32x4_splat(0.0));
        for o in 0..c_out {
            let b = f32x4_splat(bias[o]);
            for n in (0..windows).step_by(LANES) {
                for (k, tile) in self.tiles.iter().enumerate() {
                    let mut p = [f32x4_splat(0.0); POINTS];
                    for (i, v) in p.iter_mut().enumerate() {
                        let at = (i * rows + o) * cols + k * windows + n;
                        // SAFETY: i < 7, o < rows, k × windows + n + 4 ≤ cols: inside `m`.
                        *v = unsafe { v128_load(m.as_ptr().add(at) as *const v128) };
                    }
                    for (q, v) in output_transform(&p).iter().take(tile.outputs).enumerate() {
                        let mut v = f32x4_add(*v, b);
                        if let Some(f) = floor {
                            v = f32x4_max(v, f32x4_splat(f));
                        }
                        row[tile.phase + (tile.first + q) * self.dilation] = v;
                    }
                }
                let live = batch.saturating_sub(n).min(LANES);
                match sum {
                    Some(scale) => {
                        let total = row.iter().fold(f32x4_splat(0.0), |a, v| f32x4_add(a, *v));
                        let lanes = lanes(f32x4_mul(total, f32x4_splat(scale)));
                        for (j, l) in lanes.iter().enumerate().take(live) {
                            ys[(n + j) * c_out + o] = *l;
                        }
                    }
                    None => {
                        let t_out = self.t_out;
                        let mut t = 0;
                        while t + LANES <= t_out {
                            let w = transpose([row[t], row[t + 1], row[t + 2], row[t + 3]]);
                            for (j, v) in w.iter().enumerate().take(live) {
                                let at = ((n + j) * c_out + o) * t_out + t;
                                let out = &mut ys[at..at + LANES];
                                // SAFETY: `out` is four writable floats.
                                unsafe { v128_store(out.as_mut_ptr() as *mut v128, *v) };
                            }
                            t += LANES;
                        }
                        for (t, v) in row.iter().enumerate().skip(t) {
                            for (j, l) in lanes(*v).iter().enumerate().take(live) {
                                ys[((n + j) * c_out + o) * t_out + t] = *l;
                            }
                        }
                    }
                }
            }
        }
    }

    /// `xs` `[batch][c_in][t_in]` into `x` `[c_in][frame][window]` at frame `pad_before + f`, for the
    /// frames below `frames` (the rest of `x` stays zero): four frames of four windows at a time
    /// through a 4 × 4 transpose, one by one at the row's end.
    fn transpose_in(&self, xs: &[f32], batch: usize, windows: usize, x: &mut [f32]) {
        let (c_in, t_in) = (self.c_in, self.t_in);
        // Input frames past this are read by no tile.
        let used = self.frames.saturating_sub(self.pad_before).min(t_in);
        for c in 0..c_in {
            for n in (0..windows).step_by(LANES) {
                let live = batch.saturating_sub(n).min(LANES);
                let src = |j: usize| (n + j) * c_in * t_in + c * t_in;
                let dst = |f: usize| (c * self.frames + self.pad_before + f) * windows + n;
                let mut f = 0;
                while f + LANES <= used {
                    let mut rows = [f32x4_splat(0.0); LANES];
                    for (j, r) in rows.iter_mut().enumerate().take(live) {
                        let from = &xs[src(j) + f..src(j) + f + LANES];
                        // SAFETY: `from` is four readable floats.
                        *r = unsafe { v128_load(from.as_ptr() as *const v128) };
                    }
                    for (k, v) in transpose(rows).iter().enumerate() {
                        let to = &mut x[dst(f + k)..dst(f + k) + LANES];
                        // SAFETY: `to` is four writable floats.
                        unsafe { v128_store(to.as_mut_ptr() as *mut v128, *v) };
                    }
                    f += LANES;
                }
                for f in f..used {
                    for j in 0..live {
                        x[dst(f) + j] = xs[src(j) + f];
                    }
                }
            }
        }
    }
}

/// Windows per pass of [`Winograd::run`].
pub const CHUNK: usize = 16;

/// The buffers one pass needs, kept across the passes of a batch.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    u: Vec<f32>,
    m: Vec<f32>,
    /// One output channel's frames for four windows, a vector per frame.
    row: Vec<v128>,
}

/// `v` as `len` zeros, reusing its allocation: the padded input, whose pads must read zero.
fn zeroed(v: &mut Vec<f32>, len: usize) {
    v.clear();
    v.resize(len, 0.0);
}

/// The first `len` values of `v`, grown if short, left as they are: U and M, which every pass
/// writes whole before it reads them.
fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

/// Bᵀ d for the points 0, ±1, ±½, −2 and ∞: the seven inputs of a tile to its seven points (every
/// coefficient exact in binary), written out so that each is one multiply-add.
#[inline(always)]
fn input_transform(d: &[v128; POINTS]) -> [v128; POINTS] {
    let k = f32x4_splat;
    let [d0, d1, d2, d3, d4, d5, d6] = *d;
    [
        madd(
            madd(
                madd(madd(madd(d5, k(0.5), d0), k(0.25), d1), k(-2.5), d2),
                k(-1.25),
                d3,
            ),
            k(2.0),
            d4,
        ),
        madd(
            madd(madd(madd(d5, k(-0.5), d1), k(-0.75), d2), k(1.75), d3),
            k(3.0),
            d4,
        ),
        madd(
            madd(madd(f32x4_add(d4, d5), k(0.5), d1), k(-0.25), d2),
            k(-2.25),
            d3,
        ),
        madd(madd(f32x4_sub(d5, d1), k(-2.5), d2), k(2.5), d4),
        madd(
            madd(madd(f32x4_add(d1, d5), k(-1.5), d2), k(-2.0), d3),
            k(1.5),
            d4,
        ),
        madd(madd(d5, k(0.25), d1), k(-1.25), d3),
        madd(
            madd(
                madd(madd(madd(d6, k(0.5), d1), k(0.25), d2), k(-2.5), d3),
                k(-1.25),
                d4,
            ),
            k(2.0),
            d5,
        ),
    ]
}

/// Aᵀ m: a tile's seven products to its five outputs.
#[inline(always)]
fn output_transform(m: &[v128; POINTS]) -> [v128; OUT] {
    let k = f32x4_splat;
    let [m0, m1, m2, m3, m4, m5, m6] = *m;
    let (s12, d12) = (f32x4_add(m1, m2), f32x4_sub(m1, m2));
    let (s34, d34) = (f32x4_add(m3, m4), f32x4_sub(m3, m4));
    [
        f32x4_add(f32x4_add(m0, s12), f32x4_add(s34, m5)),
        madd(madd(d12, k(0.5), d34), k(-2.0), m5),
        madd(madd(s12, k(0.25), s34), k(4.0), m5),
        madd(madd(d12, k(0.125), d34), k(-8.0), m5),
        f32x4_add(madd(madd(s12, k(0.0625), s34), k(16.0), m5), m6),
    ]
}

/// Rows to columns: lane j of the result's vector i is lane i of `r[j]`.
#[inline(always)]
fn transpose(r: [v128; LANES]) -> [v128; LANES] {
    let a = i32x4_shuffle::<0, 4, 1, 5>(r[0], r[1]);
    let b = i32x4_shuffle::<2, 6, 3, 7>(r[0], r[1]);
    let c = i32x4_shuffle::<0, 4, 1, 5>(r[2], r[3]);
    let d = i32x4_shuffle::<2, 6, 3, 7>(r[2], r[3]);
    [
        i64x2_shuffle::<0, 2>(a, c),
        i64x2_shuffle::<1, 3>(a, c),
        i64x2_shuffle::<0, 2>(b, d),
        i64x2_shuffle::<1, 3>(b, d),
    ]
}

fn lanes(v: v128) -> [f32; LANES] {
    [
        f32x4_extract_lane::<0>(v),
        f32x4_extract_lane::<1>(v),
        f32x4_extract_lane::<2>(v),
        f32x4_extract_lane::<3>(v),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Aᵀ[(G g) ⊙ (Bᵀ d)] through the written-out transforms is the three-tap correlation of d
    /// (a wrong coefficient anywhere fails this), and the transpose is one.
    #[test]
    fn the_transforms_compute_the_correlation() {
        let d: Vec<f32> = (0..POINTS).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let g = [0.7f64, -1.3, 0.45];
        // Lane j holds d scaled by j + 1: four tiles at once.
        let dv: [v128; POINTS] =
            std::array::from_fn(|a| f32x4(d[a], 2.0 * d[a], 3.0 * d[a], 4.0 * d[a]));
        let u = input_transform(&dv);
        let m: [v128; POINTS] = std::array::from_fn(|i| {
            let v = G[i].iter().zip(&g).map(|(a, b)| a * b).sum::<f64>() as f32;
            f32x4_mul(u[i], f32x4_splat(v))
        });
        for (q, y) in output_transform(&m).iter().enumerate() {
            let want: f64 = (0..TAPS).map(|k| g[k] * d[q + k] as f64).sum();
            for (j, got) in lanes(*y).iter().enumerate() {
                let want = want * (j + 1) as f64;
                assert!(
                    (*got as f64 - want).abs() < 1e-5,
                    "output {q} lane {j}: {got} against {want}"
                );
            }
        }
        let r: [v128; LANES] = std::array::from_fn(|j| {
            let j = j as f32 * 4.0;
            f32x4(j, j + 1.0, j + 2.0, j + 3.0)
        });
        let t = transpose(r);
        for (i, v) in t.iter().enumerate() {
            assert_eq!(lanes(*v), std::array::from_fn(|j| (j * 4 + i) as f32));
        }
    }

    #[test]
    fn plans_the_count_models_layers_and_leaves_small_ones() {
        let w = vec![0.5f32; 64 * 56 * 3];
        for (dilation, tiles) in [(1, 4), (2, 4), (4, 4)] {
            let p = Winograd::plan(&w, (56, 64), dilation, dilation, (20, 20)).expect("planned");
            assert_eq!(p.tiles.len(), tiles, "dilation {dilation}");
            assert_eq!(p.tiles.iter().map(|t| t.outputs).sum::<usize>(), 20);
        }
        // Dilation 4 over 8 frames: four phases of two outputs, a tile each (28 products against
        // the direct kernel's 24).
        assert!(Winograd::plan(&w, (56, 64), 4, 4, (8, 8)).is_none());
        assert!(Winograd::plan(&w[..4 * 56 * 3], (56, 4), 1, 1, (20, 20)).is_none());
    }
}
