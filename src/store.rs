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

impl WindowStore {
    /// Keep one window (model order, [`WINDOW_LEN`] values).
    pub fn push(&mut self, window: &[f32]) {
        debug_assert_eq!(window.len(), WINDOW_LEN);
        let finite = window.iter().copied().filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 0.0) };
        let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
        if self.ranges.len().is_multiple_of(BLOCK) {
            self.blocks.push(Vec::with_capacity(BLOCK * WINDOW_LEN));
        }
        let Some(block) = self.blocks.last_mut() else {
            return;
        };
        block.extend(window.iter().map(|&v| {
            if v.is_finite() {
                ((v - lo) * scale).round().clamp(0.0, 255.0) as u8
            } else {
                0
            }
        }));
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
