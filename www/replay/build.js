// Which wasm build this browser runs, and its compile, started the moment this module runs. It imports
// nothing, so a page can load it on its own (`<script type="module" async src="replay/build.js">`) and
// the 6 MB download and compile begin before the rest of the element's modules have arrived; engine.js
// imports the same module, so there is one compile either way.

// Two builds of the same engine: with relaxed SIMD (tract's matrix kernels use fused multiply-add) where the
// browser validates it, else plain SIMD128. Same exports, same JS glue; `?engine=simd128` forces the plain one.
// A one-function module whose body is f32x4.relaxed_madd over three v128 constants.
const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 61, 1, 59, 0,
  ...[0, 1, 2].flatMap(() => [253, 12, ...new Array(16).fill(0)]), 253, 133, 2, 11]);
export const ENGINE = new URLSearchParams(location.search).get('engine') !== 'simd128' && WebAssembly.validate(RELAXED_PROBE)
  ? 'relaxed-simd' : 'simd128';
// Compiled once per page: the main thread instantiates it for drawing, and every worker gets the same
// compiled module (no second download, no second compile).
export const compiled = WebAssembly.compileStreaming(fetch(new URL(
  ENGINE === 'relaxed-simd' ? '../pkg/countscope_relaxed_bg.wasm' : '../pkg/countscope_bg.wasm', import.meta.url)));
// (A failed download or compile is reported where it is awaited: engine.js, and the workers.)
compiled.catch(() => {});
