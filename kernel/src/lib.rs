//! countscope's own wasm matrix kernel and the convolution that uses it (wasm32 with `simd128`
//! only; native builds run tract's lowering untouched). `countscope::model::kernel` is this crate.
//!
//! A crate of its own so that its code is compiled at opt-level 3 while the rest of countscope, in the
//! page's module, is compiled for size (`[profile.page]`): Cargo sets optimisation per crate, and this is
//! where the page's inference time goes (at "s" it ran at half the speed; docs/performance.md, "Issue 16,
//! second step").
//!
//! - `wasm.rs`: an 8×5 f32 kernel. countscope's convolutions are matrix products with
//!   M = 64 or 128 output channels and N = 20 frames per window (K = 168, 192, 384). tract's wasm
//!   GEMM kernel is 8×8 with its vectors along N: 20 frames pad to 24 (a sixth of the work
//!   wasted), and its 16 accumulators plus its operands are more live vectors than the 16
//!   registers an x86-64 host gives V8 and Cranelift. This one keeps its vectors along M: two
//!   vectors hold 8 rows of one column, five columns make ten accumulators (fourteen live vectors
//!   with the operands), and 20 frames are exactly four tiles. It is registered with
//!   tract-linalg's dispatcher, with a tier that names it only where it pads N less than 8×8 does
//!   ([`pads_less`]). Under `+relaxed-simd` its multiply-add is fused (`f32x4.relaxed_madd`).
//!   It still serves the matrix products tract lowers itself, where it pads N less than 8×8 does.
//! - `frames.rs`: the convolutions' own kernel, with its vectors along the frames: two output
//!   channels × five vectors of four frames (ten accumulators), the input read as it lies in a
//!   zero-padded copy and the weights broadcast once at load, so its inner loop is seven vector
//!   loads and ten multiply-adds with no lane shuffle (the 8×5 kernel needs four per ten).
//! - `conv.rs`: `DirectConv1d`, which replaces tract's `Im2col` + matrix product + `Max`
//!   for the 1-D convolutions it covers: one padded copy of each window's input instead of
//!   tract's element-by-element padded im2col, the frame-lane kernel tile by tile, bias and ReLU
//!   fused into its store, and for the model's last convolution the mean over time that follows
//!   (`direct_convs` swaps it in between declutter and codegen).
//! - `winograd.rs`: the three-tap convolutions as Winograd's F(5, 3): 7 products per tile of
//!   5 outputs instead of 15, per dilation phase, with the windows of a batch along the lanes and
//!   the products run on the frame-lane kernel with one tap; `DirectConv1d` runs it in every batch
//!   (a window's logits must not depend on the batch it falls in).
//!
//! Measured with `cargo xtask bench` (relaxed-SIMD build in Chromium, batch 16, µs per window,
//! each against onnxruntime-web in its own run): tract's lowering 195.5 (1.20×); with the kernel
//! through tract's dispatcher 163.1 (1.29×); with `DirectConv1d` 141.5 (1.41×); with the kernel's
//! k loop unrolled four times 128.3 (1.56×). The frame-lane kernel's and Winograd's figures are
//! in `docs/performance.md`.
//!
//! Correctness: `wasm.rs` tests every fused op against a scalar reference, and
//! `conv.rs` tests `DirectConv1d` (the frame-lane kernel) against both tract's own
//! lowering and a scalar f64 convolution on shapes the model lacks (odd channel counts, frames
//! not a multiple of four, oversized padding, other taps and dilations, Winograd's path and the
//! direct one, batches of 1 to 37 windows); both run in the
//! wasm32-wasip2 unit-test program under wasmtime (`cargo xtask test`). The browser, wasmtime and
//! end-to-end suites compare the model's wasm logits with native ones, and `cargo xtask bench`
//! checks every engine against the native dump before timing it.

/// Rows (M) per tile: two f32x4 vectors.
pub const MR: usize = 8;
/// Columns (N) per tile.
pub const NR: usize = 5;
/// The kernel's name in tract's dispatch tables (and in `RUST_LOG=debug` output).
pub const NAME: &str = "countscope_wasm_f32_8x5";

#[cfg(all(
    feature = "wasm-kernel",
    target_arch = "wasm32",
    target_feature = "simd128"
))]
mod conv;
#[cfg(all(
    feature = "wasm-kernel",
    target_arch = "wasm32",
    target_feature = "simd128"
))]
mod frames;
#[cfg(all(
    feature = "wasm-kernel",
    target_arch = "wasm32",
    target_feature = "simd128"
))]
mod wasm;
#[cfg(all(
    feature = "wasm-kernel",
    target_arch = "wasm32",
    target_feature = "simd128"
))]
mod winograd;
#[cfg(all(
    feature = "wasm-kernel",
    target_arch = "wasm32",
    target_feature = "simd128"
))]
pub use conv::{direct_convs, DirectConv1d};

/// Whether this build runs countscope's kernel and `DirectConv1d`: wasm32 with `simd128` and the
/// `wasm-kernel` feature (on by default; `--no-default-features` leaves tract's own lowering, which the
/// wasmtime suite checks gives the same logits within 1e-5).
pub const ACTIVE: bool = cfg!(all(
    feature = "wasm-kernel",
    target_arch = "wasm32",
    target_feature = "simd128"
));

/// What runs the model, in words (`countscope inspect` says it).
pub fn describe() -> String {
    if ACTIVE {
        format!("tract-onnx with countscope's wasm kernel ({NAME}, DirectConv1d)")
    } else {
        "tract-onnx (its own kernels)".into()
    }
}

/// Whether an 8×5 tile pads a product's N less than tract's 8×8 does: the only case the tier
/// speaks for, so every other shape keeps tract's own choice.
pub fn pads_less(n: usize) -> bool {
    n > 1 && n.div_ceil(NR) * NR < n.div_ceil(8) * 8
}

/// Inputs for the kernel's and `DirectConv1d`'s tests: `n` values in [-0.5, 0.5), one stream of
/// the simulator's portable generator per seed.
#[cfg(all(
    test,
    feature = "wasm-kernel",
    target_arch = "wasm32",
    target_feature = "simd128"
))]
fn test_values(seed: u64, n: usize) -> Vec<f32> {
    // xorshift64*, seeded: values in [-0.5, 0.5).
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let u = s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
            u as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::pads_less;

    #[test]
    fn speaks_only_where_it_pads_less() {
        // 20 frames: 20 columns computed instead of 24.
        assert!(pads_less(20));
        assert!(pads_less(5) && pads_less(10) && pads_less(35));
        assert!(!pads_less(8) && !pads_less(16) && !pads_less(24) && !pads_less(40));
        // N = 1 is a matrix-vector product: tract's GEMV kernels take those.
        assert!(!pads_less(1) && !pads_less(0));
    }
}
