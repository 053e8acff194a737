//! The page's wasm module: `pkg/countscope_bg.wasm` (and its relaxed-SIMD twin) is this crate, linked.
//!
//! It holds no code. Everything the page calls is `countscope::web`, exported by `#[wasm_bindgen]` in the
//! countscope library and kept in the module by linking that library here. The crate exists for one
//! reason: with fat LTO, the crate that links a module sets the optimisation level the whole module is
//! optimised at during the link. Linked from countscope itself (then at opt-level 3, for its convolution
//! kernel and line parser), every dependency was re-optimised at level 3 and the module grew by ≈ 70 KB gzip;
//! linked from here (`[profile.page.package.countscope-page]`), the link optimises for size. The code
//! whose speed matters, the convolution kernel, is a crate of its own (`kernel/`) compiled at level 3
//! before the link. Measured in docs/performance.md ("Issue 16, second step").

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub use countscope::web;
