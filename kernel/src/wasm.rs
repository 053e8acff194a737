//! The wasm SIMD body of [`super`]: the kernel, its registration with tract-linalg, its tests.

use super::{pads_less, MR, NAME, NR};
use linalg::isa::{Arch, IsaSet};
use linalg::mmm::{DynKernel, FusedKerSpec, OutputStoreKer, Query, Suitable};
use linalg::pack::Packing;
use std::arch::wasm32::*;
use std::sync::OnceLock;
use tract_onnx::prelude::DatumType;
use tract_onnx::tract_core::tract_linalg as linalg;

/// `acc + a × b`, fused under `+relaxed-simd` (`f32x4.relaxed_madd`).
#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
pub(super) fn madd(acc: v128, a: v128, b: v128) -> v128 {
    f32x4_relaxed_madd(a, b, acc)
}

#[cfg(not(target_feature = "relaxed-simd"))]
#[inline(always)]
pub(super) fn madd(acc: v128, a: v128, b: v128) -> v128 {
    f32x4_add(acc, f32x4_mul(a, b))
}

/// B's five values for one k, each broadcast to a vector: one vector load and four lane
/// shuffles, plus one splat load for the fifth. Five `v128.load32_splat` instead cost 37 % more
/// in the three convolutions' products under wasmtime (216 against 158 µs per window) and 20 %
/// more per window in Chromium's relaxed-SIMD build (195.6 against 163.1 µs; consecutive
/// `cargo xtask bench` runs).
///
/// # Safety
/// `b` points at 5 readable f32 (wasm loads need no alignment).
#[inline(always)]
unsafe fn splats(b: *const f32) -> [v128; NR] {
    // SAFETY: b..b+4 are readable (the caller's contract).
    let v = unsafe { v128_load(b as *const v128) };
    // SAFETY: b+4 is the fifth readable value.
    let fifth = unsafe { v128_load32_splat(b.add(4) as *const u32) };
    [
        i32x4_shuffle::<0, 0, 0, 0>(v, v),
        i32x4_shuffle::<1, 1, 1, 1>(v, v),
        i32x4_shuffle::<2, 2, 2, 2>(v, v),
        i32x4_shuffle::<3, 3, 3, 3>(v, v),
        fifth,
    ]
}

/// The f32 at `row`, `col` of a C tile tract describes by its byte strides (AddUnicast reads
/// there, Store writes there).
///
/// # Safety
/// `row` < 8 and `col` < 5, and `tile` describes an 8×5 tile of f32 inside one allocation.
#[inline(always)]
unsafe fn cell(tile: &OutputStoreKer, row: usize, col: usize) -> *mut f32 {
    let offset = tile.row_byte_stride * row as isize + tile.col_byte_stride * col as isize;
    // SAFETY: the cell is inside the tile, so the offset stays inside its allocation.
    unsafe { tile.ptr.offset(offset) as *mut f32 }
}

/// The accumulators: `acc[2 * j + h]` holds rows `4h..4h+4` of column `j`.
type Acc = [v128; 2 * NR];

#[inline(always)]
fn each(acc: &mut Acc, f: impl Fn(v128) -> v128) {
    for v in acc.iter_mut() {
        *v = f(*v);
    }
}

/// Applies `op(row operand, acc)` (or flipped) with the 8 per-row values at `p`.
///
/// # Safety
/// `p` points at 8 readable f32.
#[inline(always)]
unsafe fn per_row(acc: &mut Acc, p: *const f32, op: fn(v128, v128) -> v128, flipped: bool) {
    // SAFETY: p..p+8 are readable (the caller's contract).
    let (lo, hi) = unsafe {
        (
            v128_load(p as *const v128),
            v128_load(p.add(4) as *const v128),
        )
    };
    for j in 0..NR {
        for (h, r) in [lo, hi].into_iter().enumerate() {
            let a = acc[2 * j + h];
            acc[2 * j + h] = if flipped { op(a, r) } else { op(r, a) };
        }
    }
}

/// Applies `op(column operand, acc)` (or flipped) with the 5 per-column values at `p`.
///
/// # Safety
/// `p` points at 5 readable f32.
#[inline(always)]
unsafe fn per_col(acc: &mut Acc, p: *const f32, op: fn(v128, v128) -> v128, flipped: bool) {
    for j in 0..NR {
        // SAFETY: j < 5 (the caller's contract).
        let c = f32x4_splat(unsafe { *p.add(j) });
        for h in 0..2 {
            let a = acc[2 * j + h];
            acc[2 * j + h] = if flipped { op(a, c) } else { op(c, a) };
        }
    }
}

fn scalar(acc: &mut Acc, s: f32, op: fn(v128, v128) -> v128, flipped: bool) {
    let s = f32x4_splat(s);
    each(acc, |a| if flipped { op(a, s) } else { op(s, a) });
}

/// Loads a column-major tile: column j's 8 rows are contiguous, in accumulator order.
///
/// # Safety
/// `cols` points at 40 readable f32.
#[inline(always)]
unsafe fn load_tile(acc: &mut Acc, cols: *const f32) {
    for (i, a) in acc.iter_mut().enumerate() {
        // SAFETY: i < 10 vectors of 4: inside the 40 values.
        *a = unsafe { v128_load((cols as *const v128).add(i)) };
    }
}

/// Adds the tile `tile` describes to the accumulators.
///
/// # Safety
/// `tile` describes a readable 8×5 f32 tile.
#[inline(always)]
unsafe fn add_unicast(acc: &mut Acc, tile: &OutputStoreKer) {
    for j in 0..NR {
        for h in 0..2 {
            // SAFETY: 4h + l < 8 rows, j < 5 columns: inside the tile.
            let at = |l| unsafe { *cell(tile, 4 * h + l, j) };
            let v = f32x4(at(0), at(1), at(2), at(3));
            acc[2 * j + h] = f32x4_add(acc[2 * j + h], v);
        }
    }
}

/// Writes the accumulators into the tile `tile` describes.
///
/// # Safety
/// `tile` describes a writable 8×5 f32 tile.
#[inline(always)]
unsafe fn store(acc: &Acc, tile: &OutputStoreKer) {
    for j in 0..NR {
        for h in 0..2 {
            let v = acc[2 * j + h];
            let lanes = [
                f32x4_extract_lane::<0>(v),
                f32x4_extract_lane::<1>(v),
                f32x4_extract_lane::<2>(v),
                f32x4_extract_lane::<3>(v),
            ];
            for (l, x) in lanes.into_iter().enumerate() {
                // SAFETY: 4h + l < 8 rows, j < 5 columns: inside the tile.
                unsafe { *cell(tile, 4 * h + l, j) = x };
            }
        }
    }
}

/// Adds the outer product of 8 row values and 5 column values.
///
/// # Safety
/// `rows` points at 8 readable f32, `cols` at 5.
#[inline(always)]
unsafe fn add_row_col_products(acc: &mut Acc, rows: *const f32, cols: *const f32) {
    // SAFETY: rows..rows+8 are readable.
    let (lo, hi) = unsafe {
        (
            v128_load(rows as *const v128),
            v128_load(rows.add(4) as *const v128),
        )
    };
    for j in 0..NR {
        // SAFETY: j < 5.
        let c = f32x4_splat(unsafe { *cols.add(j) });
        acc[2 * j] = madd(acc[2 * j], lo, c);
        acc[2 * j + 1] = madd(acc[2 * j + 1], hi, c);
    }
}

/// The product proper: A packed as `[k][8]` rows (two vectors per k), B as `[k][5]` columns, each
/// broadcast.
///
/// # Safety
/// `pa` points at `8 k` readable f32, `pb` at `5 k`.
#[inline(always)]
unsafe fn add_mat_mul(acc: &mut Acc, k: usize, pa: *const f32, pb: *const f32) {
    let a = pa as *const v128;
    let [mut c0l, mut c0h, mut c1l, mut c1h, mut c2l, mut c2h, mut c3l, mut c3h, mut c4l, mut c4h] =
        *acc;
    macro_rules! step {
        ($i:expr) => {{
            let i = $i;
            // SAFETY: i < k, so vectors 2i and 2i + 1 lie in A's 8k values and B's values
            // 5i..5i + 5 in its 5k.
            let (lo, hi, [s0, s1, s2, s3, s4]) = unsafe {
                (
                    v128_load(a.add(2 * i)),
                    v128_load(a.add(2 * i + 1)),
                    splats(pb.add(NR * i)),
                )
            };
            c0l = madd(c0l, lo, s0);
            c0h = madd(c0h, hi, s0);
            c1l = madd(c1l, lo, s1);
            c1h = madd(c1h, hi, s1);
            c2l = madd(c2l, lo, s2);
            c2h = madd(c2h, hi, s2);
            c3l = madd(c3l, lo, s3);
            c3h = madd(c3h, hi, s3);
            c4l = madd(c4l, lo, s4);
            c4h = madd(c4h, hi, s4);
        }};
    }
    // Four k per loop turn: under wasmtime the unrolled loop ran the model's largest
    // convolution in 76 µs per window instead of 90 (two k: the same 76).
    let mut i = 0;
    while i + 4 <= k {
        step!(i);
        step!(i + 1);
        step!(i + 2);
        step!(i + 3);
        i += 4;
    }
    while i < k {
        step!(i);
        i += 1;
    }
    *acc = [c0l, c0h, c1l, c1h, c2l, c2h, c3l, c3h, c4l, c4h];
}

/// The vector op of a per-row or per-column fused op, and whether the accumulator is its left operand
/// (the `SubF` ops: operand − acc becomes acc − operand).
#[inline(always)]
fn binary(op: &FusedKerSpec<f32>) -> (fn(v128, v128) -> v128, bool) {
    use FusedKerSpec::*;
    match op {
        PerRowMin(_) | PerColMin(_) => (f32x4_min, false),
        PerRowMax(_) | PerColMax(_) => (f32x4_max, false),
        PerRowAdd(_) | PerColAdd(_) => (f32x4_add, false),
        PerRowMul(_) | PerColMul(_) => (f32x4_mul, false),
        PerRowSubF(_) | PerColSubF(_) => (f32x4_sub, true),
        _ => (f32x4_sub, false),
    }
}

/// The kernel proper: runs a fused-op list for one 8×5 tile, each op on the accumulators.
///
/// # Safety
/// Every pointer in `spec` is laid out for this kernel's packing and tile, as tract-linalg
/// lays them out when its dispatcher picks this kernel, and as `DirectConv1d` and the tests
/// do: `AddMatMul` A with 8 k and B with 5 k values, per-row operands 8 values, per-column ones
/// 5, tiles 8×5 inside one allocation (`LoadTile`'s column-major, 40 contiguous values).
pub(super) unsafe fn kernel(spec: &[FusedKerSpec<f32>]) -> isize {
    let mut acc: Acc = [f32x4_splat(0.0); 2 * NR];
    for op in spec {
        match *op {
            FusedKerSpec::Done => break,
            FusedKerSpec::Clear => acc = [f32x4_splat(0.0); 2 * NR],
            // SAFETY: the tile holds 40 values (the kernel's contract).
            FusedKerSpec::LoadTile(cols, _rows) => unsafe { load_tile(&mut acc, cols) },
            FusedKerSpec::ScalarMin(s) => scalar(&mut acc, s, f32x4_min, false),
            FusedKerSpec::ScalarMax(s) => scalar(&mut acc, s, f32x4_max, false),
            FusedKerSpec::ScalarAdd(s) => scalar(&mut acc, s, f32x4_add, false),
            FusedKerSpec::ScalarMul(s) => scalar(&mut acc, s, f32x4_mul, false),
            FusedKerSpec::ScalarSub(s) => scalar(&mut acc, s, f32x4_sub, false),
            FusedKerSpec::ScalarSubF(s) => scalar(&mut acc, s, f32x4_sub, true),
            FusedKerSpec::LeakyRelu(alpha) => {
                let (alpha, zero) = (f32x4_splat(alpha), f32x4_splat(0.0));
                each(&mut acc, |a| {
                    v128_bitselect(a, f32x4_mul(alpha, a), f32x4_gt(a, zero))
                });
            }
            FusedKerSpec::PerRowMin(p)
            | FusedKerSpec::PerRowMax(p)
            | FusedKerSpec::PerRowAdd(p)
            | FusedKerSpec::PerRowMul(p)
            | FusedKerSpec::PerRowSub(p)
            | FusedKerSpec::PerRowSubF(p) => {
                let (f, flipped) = binary(op);
                // SAFETY: per-row operands hold 8 values (the kernel's contract).
                unsafe { per_row(&mut acc, p, f, flipped) }
            }
            FusedKerSpec::PerColMin(p)
            | FusedKerSpec::PerColMax(p)
            | FusedKerSpec::PerColAdd(p)
            | FusedKerSpec::PerColMul(p)
            | FusedKerSpec::PerColSub(p)
            | FusedKerSpec::PerColSubF(p) => {
                let (f, flipped) = binary(op);
                // SAFETY: per-column operands hold 5 values (the kernel's contract).
                unsafe { per_col(&mut acc, p, f, flipped) }
            }
            // The integer-requantisation steps, as tract's f32 wasm kernels read them.
            FusedKerSpec::QScale(shift, rp, mult) => {
                let s = linalg::Scaler::from_fuse_params(shift, rp, mult).scale;
                scalar(&mut acc, s, f32x4_mul, false)
            }
            FusedKerSpec::RoundingShiftRight(shift, _) => {
                scalar(&mut acc, 2f32.powi(-(shift as i32)), f32x4_mul, false)
            }
            FusedKerSpec::ShiftLeft(shift) => {
                scalar(&mut acc, 2f32.powi(shift as i32), f32x4_mul, false)
            }
            // SAFETY: the tile is 8×5 inside one allocation (the kernel's contract).
            FusedKerSpec::AddUnicast(tile) => unsafe { add_unicast(&mut acc, &tile) },
            // SAFETY: 8 row and 5 column values (the kernel's contract).
            FusedKerSpec::AddRowColProducts(rows, cols) => unsafe {
                add_row_col_products(&mut acc, rows, cols)
            },
            // SAFETY: the tile is 8×5 inside one allocation (the kernel's contract).
            FusedKerSpec::Store(tile) => unsafe { store(&acc, &tile) },
            // SAFETY: A holds 8 k values and B 5 k (the kernel's contract).
            FusedKerSpec::AddMatMul { k, pa, pb, .. } => unsafe {
                add_mat_mul(&mut acc, k, pa as *const f32, pb as *const f32)
            },
        }
    }
    0
}

/// The kernel as tract-linalg's dispatcher sees it, built once.
fn dyn_kernel() -> &'static DynKernel<MR, NR, f32> {
    static KERNEL: OnceLock<DynKernel<MR, NR, f32>> = OnceLock::new();
    KERNEL.get_or_init(|| {
        let mut k = DynKernel::<MR, NR, f32>::new(NAME, kernel, f32::packing(MR), f32::packing(NR));
        k.arch = Some(Arch::Wasm32Simd128);
        k
    })
}

/// The dispatch tier: above tract's own wasm tier, with an opinion only on f32 GEMMs whose N
/// this kernel pads less (N = 20: 20 columns computed instead of 24).
fn preferred(
    _isa: &IsaSet,
    dt: DatumType,
    query: &Query,
    _suitable: &[Suitable],
) -> Option<&'static str> {
    (dt == DatumType::F32 && query.n.is_some_and(pads_less)).then_some(NAME)
}

inventory::submit! {
    linalg::mmm_routines::MmmRoutine { make: || dyn_kernel().mmm() }
}

inventory::submit! {
    linalg::mmm_tiers::MmmTier {
        arch: Some(Arch::Wasm32Simd128),
        precedence: 2,
        name: "countscope-wasm-8x5",
        applies: |_| true,
        preferred,
    }
}

/// The kernel against a scalar reference, one fused op at a time, in the kernel's own build (run
/// under wasmtime by `cargo xtask test`; `+relaxed-simd` differs only in `madd`, which the
/// end-to-end suite's logit comparison covers in Chromium).
#[cfg(test)]
mod tests {
    use super::super::test_values;
    use super::*;

    type Tile = [[f32; NR]; MR];

    fn tile(seed: u64) -> Tile {
        let v = test_values(seed, MR * NR);
        std::array::from_fn(|r| std::array::from_fn(|c| v[r * NR + c]))
    }

    fn array<const N: usize>(seed: u64) -> [f32; N] {
        test_values(seed, N).try_into().expect("N values")
    }

    /// A strided store: row stride 23 floats, column stride 3, sentinels everywhere else, so a
    /// write outside the tile or a swapped stride shows.
    struct Strided(Vec<f32>);
    const ROW: usize = 23;
    const COL: usize = 3;
    const SENTINEL: f32 = -12345.0;

    impl Strided {
        fn new() -> Self {
            Strided(vec![SENTINEL; MR * ROW])
        }
        fn of(t: &Tile) -> Self {
            let mut s = Self::new();
            for (r, row) in t.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    s.0[r * ROW + c * COL] = *v;
                }
            }
            s
        }
        fn store(&mut self) -> OutputStoreKer {
            OutputStoreKer {
                ptr: self.0.as_mut_ptr() as *mut u8,
                row_byte_stride: (4 * ROW) as isize,
                col_byte_stride: (4 * COL) as isize,
                item_size: 4,
            }
        }
        fn tile(&self) -> Tile {
            for (i, v) in self.0.iter().enumerate() {
                let (r, c) = (i / ROW, i % ROW);
                if c % COL != 0 || c / COL >= NR || r >= MR {
                    assert_eq!(
                        *v, SENTINEL,
                        "wrote outside the tile at row {r}, offset {c}"
                    );
                }
            }
            std::array::from_fn(|r| std::array::from_fn(|c| self.0[r * ROW + c * COL]))
        }
    }

    /// Runs `ops` between loading `start` (through AddUnicast after Clear) and a strided Store.
    fn run(start: &Tile, ops: &[FusedKerSpec<f32>]) -> Tile {
        let source = Strided::of(start);
        let mut out = Strided::new();
        let mut spec = vec![
            FusedKerSpec::Clear,
            FusedKerSpec::AddUnicast(OutputStoreKer {
                ptr: source.0.as_ptr() as *mut u8,
                ..Strided::new().store()
            }),
        ];
        spec.extend_from_slice(ops);
        spec.push(FusedKerSpec::Store(out.store()));
        spec.push(FusedKerSpec::Done);
        // SAFETY: both tiles are whole `Strided` 8×5 buffers, and every operand in `ops` is one
        // the tests below size for its op (8 per-row values, 5 per-column ones).
        assert_eq!(unsafe { kernel(&spec) }, 0);
        out.tile()
    }

    fn expect(start: &Tile, f: impl Fn(usize, usize, f32) -> f32) -> Tile {
        std::array::from_fn(|r| std::array::from_fn(|c| f(r, c, start[r][c])))
    }

    #[test]
    fn unicast_and_store_round_trip_a_strided_tile() {
        let t = tile(1);
        assert_eq!(run(&t, &[]), t);
    }

    #[test]
    fn load_tile_reads_the_column_major_tile() {
        let t = tile(2);
        let cols: Vec<f32> = (0..NR)
            .flat_map(|c| (0..MR).map(move |r| (r, c)))
            .map(|(r, c)| t[r][c])
            .collect();
        let mut out = Strided::new();
        let spec = [
            FusedKerSpec::LoadTile(cols.as_ptr(), std::ptr::null()),
            FusedKerSpec::Store(out.store()),
            FusedKerSpec::Done,
        ];
        // SAFETY: `cols` holds the 40 values of a column-major tile; `out` is a whole 8×5 tile.
        assert_eq!(unsafe { kernel(&spec) }, 0);
        assert_eq!(out.tile(), t);
    }

    #[test]
    fn clear_and_done() {
        let t = tile(3);
        assert_eq!(run(&t, &[FusedKerSpec::Clear]), [[0.0; NR]; MR]);
        // Nothing after Done runs: the Store that `run` appends is never reached.
        let mut out = Strided::new();
        let spec = [FusedKerSpec::Done, FusedKerSpec::Store(out.store())];
        // SAFETY: `out` is a whole 8×5 tile (and is never reached).
        assert_eq!(unsafe { kernel(&spec) }, 0);
        assert!(out.0.iter().all(|v| *v == SENTINEL));
    }

    #[test]
    fn scalar_row_and_column_operands() {
        let t = tile(4);
        let rows: [f32; MR] = array(5);
        let cols: [f32; NR] = array(6);
        let (rp, cp, s) = (rows.as_ptr(), cols.as_ptr(), 0.375f32);
        // The six operations, as f(operand, c), in the order of each kind's variants below.
        let reference: [fn(f32, f32) -> f32; 6] = [
            f32::min,
            f32::max,
            |a, c| a + c,
            |a, c| a * c,
            |a, c| a - c,
            |a, c| c - a,
        ];
        use FusedKerSpec::*;
        let kinds: [(&str, [FusedKerSpec<f32>; 6]); 3] = [
            (
                "scalar",
                [
                    ScalarMin(s),
                    ScalarMax(s),
                    ScalarAdd(s),
                    ScalarMul(s),
                    ScalarSub(s),
                    ScalarSubF(s),
                ],
            ),
            (
                "per row",
                [
                    PerRowMin(rp),
                    PerRowMax(rp),
                    PerRowAdd(rp),
                    PerRowMul(rp),
                    PerRowSub(rp),
                    PerRowSubF(rp),
                ],
            ),
            (
                "per column",
                [
                    PerColMin(cp),
                    PerColMax(cp),
                    PerColAdd(cp),
                    PerColMul(cp),
                    PerColSub(cp),
                    PerColSubF(cp),
                ],
            ),
        ];
        for (kind, ops) in kinds {
            for (op, f) in ops.into_iter().zip(reference) {
                let want = expect(&t, |r, c, v| {
                    let a = match kind {
                        "scalar" => s,
                        "per row" => rows[r],
                        _ => cols[c],
                    };
                    f(a, v)
                });
                assert_eq!(run(&t, &[op]), want, "{op:?}");
            }
        }
    }

    #[test]
    fn leaky_relu_and_the_requantisation_scalings() {
        let t = tile(7);
        let leaky = expect(&t, |_, _, v| if v > 0.0 { v } else { 0.25 * v });
        assert_eq!(run(&t, &[FusedKerSpec::LeakyRelu(0.25)]), leaky);
        let shl = expect(&t, |_, _, v| v * 8.0);
        assert_eq!(run(&t, &[FusedKerSpec::ShiftLeft(3)]), shl);
        let shr = expect(&t, |_, _, v| v * 0.25);
        let rp = linalg::mmm::RoundingPolicy::Even;
        assert_eq!(run(&t, &[FusedKerSpec::RoundingShiftRight(2, rp)]), shr);
    }

    #[test]
    fn row_column_products_add_to_the_tile() {
        let t = tile(8);
        let rows: [f32; MR] = array(9);
        let cols: [f32; NR] = array(10);
        let got = run(
            &t,
            &[FusedKerSpec::AddRowColProducts(
                rows.as_ptr(),
                cols.as_ptr(),
            )],
        );
        let want = expect(&t, |r, c, v| v + rows[r] * cols[c]);
        for r in 0..MR {
            for c in 0..NR {
                assert!((got[r][c] - want[r][c]).abs() <= 1e-6, "row {r} col {c}");
            }
        }
    }

    /// The product itself: A packed [k][8], B packed [k][5], for short and model-sized k, added
    /// to a non-zero tile, then the bias and ReLU the model's convolutions fuse.
    #[test]
    fn matrix_product_matches_a_scalar_reference() {
        for k in [0usize, 1, 2, 3, 7, 33, 168, 384] {
            let a = test_values(11 + k as u64, k * MR);
            let b = test_values(12 + k as u64, k * NR);
            let bias: [f32; MR] = array(13);
            let t = tile(14);
            let got = run(
                &t,
                &[
                    FusedKerSpec::AddMatMul {
                        k,
                        pa: a.as_ptr() as *const u8,
                        pb: b.as_ptr() as *const u8,
                        packing: 0,
                    },
                    FusedKerSpec::PerRowAdd(bias.as_ptr()),
                    FusedKerSpec::ScalarMax(0.0),
                ],
            );
            for r in 0..MR {
                for c in 0..NR {
                    let (mut sum, mut mag) = (t[r][c] as f64, t[r][c].abs() as f64);
                    for i in 0..k {
                        let p = a[i * MR + r] as f64 * b[i * NR + c] as f64;
                        sum += p;
                        mag += p.abs();
                    }
                    let want = (sum + bias[r] as f64).max(0.0);
                    let err = (got[r][c] as f64 - want).abs();
                    assert!(
                        err <= 1e-6 * (mag + 1.0),
                        "k {k}, row {r}, col {c}: {} vs {want}",
                        got[r][c]
                    );
                }
            }
        }
    }

    /// tract's own dispatcher picks this kernel for the model's products (N = 20) and keeps its
    /// own for N it pads no worse (16, 24), for matrix-vector products and for other types.
    #[test]
    fn tract_dispatches_n20_products_to_this_kernel() {
        let dispatch = linalg::MmmDispatch::native();
        let pick = |dt, m, k, n| {
            let query = Query::plain(dt, Some(m), Some(k), Some(n));
            dispatch
                .pick(&query)
                .map(|(mmm, _, _)| mmm.name().to_string())
        };
        for (m, k) in [(64, 168), (128, 192), (128, 384)] {
            assert_eq!(
                pick(DatumType::F32, m, k, 20).as_deref(),
                Some(NAME),
                "m {m} k {k}"
            );
        }
        for n in [1, 16, 24] {
            let name = pick(DatumType::F32, 128, 384, n).expect("a kernel for f32");
            assert_ne!(name, NAME, "n {n}");
        }
        assert_ne!(pick(DatumType::I32, 128, 384, 20).as_deref(), Some(NAME));
    }
}
