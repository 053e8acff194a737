//! The convolution's micro-kernel: two output channels × up to five vectors of four frames, the
//! frames along the lanes.
//!
//! Why not the 8×5 kernel of `wasm.rs`, which `DirectConv1d` ran first: its vectors run
//! along the output channels, so the input (five frames per step) had to be packed (im2col) and
//! broadcast lane by lane on every step: one vector load, four lane shuffles and a splat load per
//! ten multiply-adds. Here the vectors run along the frames. The input is read as it lies (one
//! zero-padded copy per window: a frame vector of channel c at tap t is four consecutive padded
//! values), and the weights, which are constant, are broadcast once when the model loads
//! ([`splat_weights`]). Every step is then two weight loads, five input loads and ten
//! multiply-adds, with no shuffle: ten accumulators, two weights and one input vector stay within
//! the 16 vector registers an x86-64 host gives V8 and Cranelift.

use super::wasm::madd;
use std::arch::wasm32::*;

/// Output channels per tile.
pub const ROWS: usize = 2;
/// Frame vectors per tile at most (20 frames: the count model's whole window).
pub const VECS: usize = 5;
/// Frames per vector.
pub const LANES: usize = 4;

/// The weights `[c_out][c_in][taps]` as the kernel reads them: per pair of output channels, per input
/// channel and tap, the two channels' weights each broadcast to four lanes. A channel past `c_out`
/// (odd `c_out`) has zero weights. Four times the weights' size (1.35 MB for RuView's model), bought
/// once per loaded model to take every shuffle out of the inner loop.
pub fn splat_weights(weights: &[f32], c_out: usize, k: usize) -> Vec<f32> {
    let pairs = c_out.div_ceil(ROWS);
    let mut out = vec![0f32; pairs * k * ROWS * LANES];
    for o in 0..c_out {
        let (pair, row) = (o / ROWS, o % ROWS);
        for (kk, w) in weights[o * k..(o + 1) * k].iter().enumerate() {
            let at = ((pair * k + kk) * ROWS + row) * LANES;
            out[at..at + LANES].fill(*w);
        }
    }
    out
}

/// What one tile needs to know of its convolution.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub c_in: usize,
    pub taps: usize,
    pub dilation: usize,
    /// Floats between two channels' rows of the padded input.
    pub stride: usize,
}

/// One tile's operands: where its weights, input and output lie, and what its store fuses.
#[derive(Debug, Clone, Copy)]
pub struct Tile {
    /// One pair of output channels' weights from [`splat_weights`].
    pub w: *const f32,
    /// The tile's first frame in input channel 0's padded row.
    pub x: *const f32,
    pub bias: [f32; ROWS],
    /// `max(y, floor)` after the bias: the ReLU.
    pub floor: Option<f32>,
    /// The tile's first frame in each output channel's row.
    pub out: [*mut f32; ROWS],
    /// Frames written per channel, 1 ..= 20.
    pub frames: usize,
}

/// Accumulates one tile over every input channel and tap: `acc[r][v] += w[r] × x[v]` per step.
/// `TAPS` is the taps when it is known at compile time (3, the count model's, unrolled), 0 when
/// `shape.taps` says.
///
/// # Safety
/// `w` points at `c_in × taps × 2 × 4` readable f32 (one pair of [`splat_weights`]); for every
/// channel c and tap t, `x + c × stride + t × dilation` starts `4 V` readable f32.
#[inline(always)]
unsafe fn accumulate<const V: usize, const TAPS: usize>(
    acc: &mut [[v128; V]; ROWS],
    w: *const f32,
    x: *const f32,
    shape: Shape,
) {
    let taps = if TAPS > 0 { TAPS } else { shape.taps };
    let [mut a0, mut a1] = *acc;
    let mut w = w as *const v128;
    for c in 0..shape.c_in {
        // SAFETY: channel c's row of the padded input (the caller's contract).
        let row = unsafe { x.add(c * shape.stride) };
        for t in 0..taps {
            // SAFETY: c, t < c_in, taps: the pair's next two broadcast weights, and 4 V input
            // values from tap t's offset (the caller's contract).
            unsafe {
                let (w0, w1) = (v128_load(w), v128_load(w.add(1)));
                w = w.add(ROWS);
                let p = row.add(t * shape.dilation);
                for (v, (x0, x1)) in a0.iter_mut().zip(a1.iter_mut()).enumerate() {
                    let b = v128_load(p.add(LANES * v) as *const v128);
                    *x0 = madd(*x0, w0, b);
                    *x1 = madd(*x1, w1, b);
                }
            }
        }
    }
    *acc = [a0, a1];
}

/// One tile, bias, floor and store: `tile.frames` ≤ 4 V frames of each of its two output channels.
///
/// # Safety
/// As [`accumulate`] with `tile.w` and `tile.x`, and each `tile.out[r]` starts `tile.frames`
/// writable f32.
#[inline(always)]
unsafe fn tile<const V: usize, const TAPS: usize>(shape: Shape, tile: Tile) {
    let mut acc = [[f32x4_splat(0.0); V]; ROWS];
    // SAFETY: the caller's contract.
    unsafe { accumulate::<V, TAPS>(&mut acc, tile.w, tile.x, shape) };
    for (r, row) in acc.iter_mut().enumerate() {
        let b = f32x4_splat(tile.bias[r]);
        for v in row.iter_mut() {
            *v = f32x4_add(*v, b);
            if let Some(f) = tile.floor {
                *v = f32x4_max(*v, f32x4_splat(f));
            }
        }
        if tile.frames == LANES * V {
            for (i, v) in row.iter().enumerate() {
                // SAFETY: 4 V = frames values from out[r] are writable.
                unsafe { v128_store(tile.out[r].add(LANES * i) as *mut v128, *v) };
            }
        } else {
            let mut lanes = [0f32; LANES * VECS];
            for (i, v) in row.iter().enumerate() {
                // SAFETY: i < V ≤ 5: inside `lanes`.
                unsafe { v128_store(lanes.as_mut_ptr().add(LANES * i) as *mut v128, *v) };
            }
            for (j, l) in lanes.iter().take(tile.frames).enumerate() {
                // SAFETY: j < frames values from out[r] are writable.
                unsafe { *tile.out[r].add(j) = *l };
            }
        }
    }
}

/// One tile of `tile.frames` frames (1 ..= 20) for one pair of output channels: the kernel for
/// ⌈frames / 4⌉ vectors, with the taps unrolled when there are 3 (the count model's) or 1 (Winograd's
/// products, `winograd.rs`).
///
/// # Safety
/// As [`tile`](fn@tile) with V = ⌈frames / 4⌉.
pub unsafe fn run(shape: Shape, tile: Tile) {
    macro_rules! go {
        ($v:literal) => {
            // SAFETY: the caller's contract, with V = ⌈frames / 4⌉.
            unsafe {
                match shape.taps {
                    3 => self::tile::<$v, 3>(shape, tile),
                    1 => self::tile::<$v, 1>(shape, tile),
                    _ => self::tile::<$v, 0>(shape, tile),
                }
            }
        };
    }
    match tile.frames.div_ceil(LANES) {
        5 => go!(5),
        4 => go!(4),
        3 => go!(3),
        2 => go!(2),
        1 => go!(1),
        v => unreachable!("a tile of {v} frame vectors"),
    }
}
