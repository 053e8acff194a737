//! The windows of a replay kept for looking at, 8 bits per value.
//!
//! The page shows the current window as a 56 × 20 heatmap at any point of the replay, so it must keep every
//! window. As `f32` a 24-hour recording (≈ 100 k windows) would be 448 MB; quantised to one byte per value
//! with each window's own minimum and maximum it is 113 MB, and a heatmap of 256 levels loses nothing a
//! colour map can show. The model never sees these bytes: it reads the full-precision window.

use crate::WINDOW_LEN;

/// Windows per block of the store.
const BLOCK: usize = 1024;

/// Every window of a replay, quantised per window to `u8`.
///
/// Kept in blocks of `BLOCK` (1,024) windows (1.1 MB) rather than one growing `Vec`: a vector that doubles holds
/// its old and new buffers at once while it copies, and in wasm, whose memory never shrinks, that peak
/// stays. At 24 hours a single vector would peak at ≈ 1.5× the windows' bytes; blocks add 1.1 MB at most.
#[derive(Clone, Debug, Default)]
pub struct WindowStore {
    blocks: Vec<Vec<u8>>,
    ranges: Vec<(f32, f32)>,
}

/// The 8-bit level of a finite `v` in a window whose least value is `lo`: `(v − lo) · scale` rounded half
/// away from zero and held to 0..=255. Written with `trunc` (one wasm instruction) because `f32::round`
/// is a library call in wasm, which made keeping the windows cost a twelfth of a replay; for the
/// non-negative values here it gives the same level bit for bit (the fraction `x − trunc(x)` is exact).
#[inline]
fn level(v: f32, lo: f32, scale: f32) -> u8 {
    let x = (v - lo) * scale;
    let t = x.trunc();
    // `as u8` saturates: above 255 is 255, and below 0 (which cannot occur) is 0, as the clamp was.
    (t + f32::from(u8::from(x - t >= 0.5))) as u8
}

/// [`level`] sixteen values at a time with wasm's 128-bit vectors: the same operations in the same order
/// per value (IEEE arithmetic rounds each one alike in a lane), so the same bytes.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::*;

    /// Append the levels of `window` (finite values; any length) to `out`.
    pub(super) fn levels(window: &[f32], lo: f32, scale: f32, out: &mut Vec<u8>) {
        let (lo4, scale4, half, one) = (
            f32x4_splat(lo),
            f32x4_splat(scale),
            f32x4_splat(0.5),
            f32x4_splat(1.0),
        );
        let four = |v: v128| {
            let x = f32x4_mul(f32x4_sub(v, lo4), scale4);
            let t = f32x4_trunc(x);
            let up = v128_and(f32x4_ge(f32x4_sub(x, t), half), one);
            i32x4_trunc_sat_f32x4(f32x4_add(t, up))
        };
        let mut chunks = window.chunks_exact(16);
        for c in &mut chunks {
            // SAFETY: `c` holds 16 f32s (64 bytes), so the four 16-byte loads at offsets 0, 4, 8 and
            // 12 floats stay inside it; `v128_load` has no alignment requirement.
            let [a, b, cc, d] =
                [0, 4, 8, 12].map(|k| unsafe { v128_load(c.as_ptr().add(k).cast()) });
            // Levels are 0..=255 (at most 256 before saturation): the signed then unsigned saturating
            // narrowings give each one's byte, as `as u8` does.
            let bytes = u8x16_narrow_i16x8(
                i16x8_narrow_i32x4(four(a), four(b)),
                i16x8_narrow_i32x4(four(cc), four(d)),
            );
            let mut q = [0u8; 16];
            // SAFETY: `q` is 16 writable bytes; `v128_store` has no alignment requirement.
            unsafe { v128_store(q.as_mut_ptr().cast(), bytes) };
            out.extend_from_slice(&q);
        }
        out.extend(
            chunks
                .remainder()
                .iter()
                .map(|&v| super::level(v, lo, scale)),
        );
    }
}

impl WindowStore {
    /// Keep one window (model order, [`WINDOW_LEN`] values).
    pub fn push(&mut self, window: &[f32]) {
        debug_assert_eq!(window.len(), WINDOW_LEN);
        let (mut lo, mut hi, mut all_finite) = (f32::INFINITY, f32::NEG_INFINITY, true);
        for &v in window {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            } else {
                all_finite = false;
            }
        }
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 0.0) };
        let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
        if self.ranges.len().is_multiple_of(BLOCK) {
            self.blocks.push(Vec::with_capacity(BLOCK * WINDOW_LEN));
        }
        let Some(block) = self.blocks.last_mut() else {
            return;
        };
        // Every window a recording gives is finite: one loop without a test per value.
        if all_finite {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            simd::levels(window, lo, scale, block);
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
            block.extend(window.iter().map(|&v| level(v, lo, scale)));
        } else {
            block.extend(window.iter().map(|&v| {
                if v.is_finite() {
                    level(v, lo, scale)
                } else {
                    0
                }
            }));
        }
        self.ranges.push((lo, hi));
    }

    /// Keep every window of `other` after these, byte for byte (a later share of the same replay). `other`
    /// is consumed block by block, each freed once copied, so the two never both stand whole beside a
    /// third copy (wasm memory keeps its peak); when this store ends on a block boundary its blocks simply
    /// move.
    pub fn append(&mut self, other: WindowStore) {
        let WindowStore { blocks, ranges } = other;
        if self.ranges.len().is_multiple_of(BLOCK) {
            self.blocks.extend(blocks);
            self.ranges.extend(ranges);
            return;
        }
        let mut ranges = ranges.into_iter();
        for theirs in blocks {
            for (q, range) in theirs.chunks_exact(WINDOW_LEN).zip(ranges.by_ref()) {
                if self.ranges.len().is_multiple_of(BLOCK) {
                    self.blocks.push(Vec::with_capacity(BLOCK * WINDOW_LEN));
                }
                let Some(block) = self.blocks.last_mut() else {
                    return;
                };
                block.extend_from_slice(q);
                self.ranges.push(range);
            }
        }
    }

    /// Number of windows kept.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether no window is kept.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Window `i` restored to amplitudes (within half a quantisation step of the original), model order.
    pub fn window(&self, i: usize) -> Option<Vec<f32>> {
        let (lo, hi) = *self.ranges.get(i)?;
        let step = (hi - lo) / 255.0;
        let at = (i % BLOCK) * WINDOW_LEN;
        let q = self.blocks.get(i / BLOCK)?.get(at..at + WINDOW_LEN)?;
        Some(q.iter().map(|&b| lo + b as f32 * step).collect())
    }

    /// Bytes held (for memory readouts).
    pub fn heap_bytes(&self) -> usize {
        self.blocks.iter().map(Vec::capacity).sum::<usize>()
            + self.ranges.capacity() * std::mem::size_of::<(f32, f32)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_appends_byte_for_byte() {
        let window =
            |k: usize| -> Vec<f32> { (0..WINDOW_LEN).map(|i| ((i * k) % 97) as f32).collect() };
        let (mut a, mut b, mut whole) = (
            WindowStore::default(),
            WindowStore::default(),
            WindowStore::default(),
        );
        for k in 0..1500 {
            whole.push(&window(k));
            if k < 1100 {
                a.push(&window(k))
            } else {
                b.push(&window(k))
            }
        }
        a.append(b);
        // On a block boundary the blocks move.
        let (mut c, mut d) = (WindowStore::default(), WindowStore::default());
        for k in 0..1500 {
            if k < BLOCK {
                c.push(&window(k))
            } else {
                d.push(&window(k))
            }
        }
        c.append(d);
        assert_eq!(
            (c.blocks.clone(), c.ranges.clone()),
            (whole.blocks.clone(), whole.ranges.clone())
        );
        assert_eq!(
            (a.blocks.clone(), a.ranges.clone()),
            (whole.blocks.clone(), whole.ranges.clone())
        );
    }

    #[test]
    fn a_level_is_the_rounded_clamped_value_bit_for_bit() {
        let mut rng = crate::sim::rng::Rng::new(3, 4);
        let check = |v: f32, lo: f32, scale: f32| {
            let want = ((v - lo) * scale).round().clamp(0.0, 255.0) as u8;
            assert_eq!(level(v, lo, scale), want, "v {v}, lo {lo}, scale {scale}");
        };
        for _ in 0..200_000 {
            let lo = (rng.next_u64() % 10_000) as f32 / 100.0 - 20.0;
            let hi = lo + (rng.next_u64() % 10_000 + 1) as f32 / 37.0;
            let scale = 255.0 / (hi - lo);
            let v = lo + (hi - lo) * (rng.next_u64() % 1_000_001) as f32 / 1e6;
            check(v, lo, scale);
        }
        // Exact halves, just below them, and the ends.
        for k in 0..=255u32 {
            for x in [
                k as f32 + 0.5,
                (k as f32 + 0.5).next_down(),
                k as f32,
                0.49999997,
            ] {
                check(x, 0.0, 1.0);
            }
        }
        check(300.0, 0.0, 1.0);
    }

    /// The vector path (wasm with simd128) gives the scalar path's bytes.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[test]
    fn the_vector_levels_are_the_scalar_ones() {
        let mut rng = crate::sim::rng::Rng::new(9, 5);
        for len in [WINDOW_LEN, 16, 17, 3, 0] {
            for _ in 0..300 {
                let lo = (rng.next_u64() % 10_000) as f32 / 100.0 - 20.0;
                let hi = lo + (rng.next_u64() % 10_000 + 1) as f32 / 37.0;
                let scale = 255.0 / (hi - lo);
                let window: Vec<f32> = (0..len)
                    .map(|k| match k % 7 {
                        // Exact halves between levels, and the ends.
                        0 => lo + ((rng.next_u64() % 255) as f32 + 0.5) / scale,
                        1 => lo,
                        2 => hi,
                        _ => lo + (hi - lo) * (rng.next_u64() % 1_000_001) as f32 / 1e6,
                    })
                    .collect();
                let mut got = Vec::new();
                simd::levels(&window, lo, scale, &mut got);
                let want: Vec<u8> = window.iter().map(|&v| level(v, lo, scale)).collect();
                assert_eq!(got, want, "lo {lo}, scale {scale}");
            }
        }
    }

    #[test]
    fn windows_come_back_within_half_a_step() {
        let mut store = WindowStore::default();
        let w: Vec<f32> = (0..WINDOW_LEN)
            .map(|i| (i as f32 * 0.37).sin() * 40.0 + 50.0)
            .collect();
        store.push(&w);
        store.push(&[3.0; WINDOW_LEN]);
        let back = store.window(0).unwrap();
        let step = 80.0 / 255.0;
        for (a, b) in w.iter().zip(&back) {
            assert!((a - b).abs() <= step / 2.0 + 1e-4, "{a} vs {b}");
        }
        assert_eq!(store.window(1).unwrap(), vec![3.0; WINDOW_LEN]);
        assert!(store.window(2).is_none());
        assert_eq!(store.len(), 2);
        // Across block boundaries: every window comes back from its own block.
        for k in 2..(2 * BLOCK + 5) {
            store.push(&[k as f32; WINDOW_LEN]);
        }
        assert_eq!(store.len(), 2 * BLOCK + 5);
        for k in [2, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 2 * BLOCK + 4] {
            assert_eq!(
                store.window(k).unwrap(),
                vec![k as f32; WINDOW_LEN],
                "window {k}"
            );
        }
        assert!(store.window(2 * BLOCK + 5).is_none());
        assert_eq!(store.heap_bytes() / (BLOCK * WINDOW_LEN), 3);
    }
}
