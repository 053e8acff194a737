// TypeScript declarations for <countscope-replay> (www/countscope-replay.js), so an embedder's editor knows
// its attributes, properties and events. The engine's own API (Model, Plots, ReplayWorker, fileKind …) is
// declared by wasm-bindgen in pkg/countscope.d.ts.

import type { Columns } from './pkg/countscope';

/** The report, as `countscope report --json` prints it (the fields the page shows; see the CLI for all). */
export interface CountscopeReport {
  windows: number;
  labelled_windows: number;
  accuracy: number | null;
  within_pm1: number | null;
  mae: number | null;
  spearman: number | null;
  brier: number | null;
  ece: number | null;
  skipped_lines: number;
  bad_lines: { line: number; reason: string }[];
  findings: { code: string; severity: 'info' | 'warning'; message: string }[];
  gates: { name: string; direction: 'at_least' | 'at_most'; target: number; measured: number | null; status: string; note: string | null }[];
  gates_passed: boolean;
  [field: string]: unknown;
}

/** Two models compared, as `countscope compare --json` prints it (the fields the page shows). */
export interface CountscopeComparison {
  models: { name: string; metrics: Record<string, unknown>; uncertainty: Record<string, unknown> | null }[];
  windows: number;
  disagreements: number;
  paired: { windows: number; both_right: number; only_a_right: number; only_b_right: number; both_wrong: number; mcnemar_p: number; [field: string]: unknown } | null;
  better: 'a' | 'b' | null;
  findings: { code: string; severity: 'info' | 'warning'; message: string }[];
  [field: string]: unknown;
}

/** The replay's columns as the worker transferred them: declared by wasm-bindgen from the Rust table
 *  (src/series.rs) that defines them, so this file never lists them. */
export type CountscopeColumns = Columns;

/** How long a replay took and what it holds, in the `replayed` event. */
export interface CountscopeTiming {
  engine: 'relaxed-simd' | 'simd128';
  /** Workers this replay ran on (on 2 cores or fewer, a page's first replay runs on one unless `workers`
   *  was set). */
  workers: number;
  /** How the workers shared the file: each a byte range of a dropped file of window lines (for gzip, of its
   *  decoded text; a `?recording=` URL is downloaded once, as a file), each its share of the batches (CSI frame
   *  files, normalising by the recording), or
   *  one worker. */
  split: 'bytes' | 'batches' | 'none';
  replaySeconds: number;
  /** The primary worker's replay time by phase, in seconds: its own share read and inferred (and of that,
   *  `source`: waiting for the file's bytes), waiting for the other workers, putting the shares together,
   *  the columns (sent at once: the page draws them while the report is made), the report (with its
   *  bootstrap intervals). */
  replayPhases: { read: number; source: number; waited: number; merged: number; columns: number; report: number };
  plottedSeconds: number;
  /** `performance.now()` when the model last loaded in every worker, when this replay began, when its
   *  columns arrived and when they were drawn (the primary makes the report meanwhile), when its report
   *  arrived, and when all of it was shown, a link's moment included (`state` became `ready`): milliseconds since the page's
   *  navigation began. The page's first replay's `ready` is how long the page took to open (what
   *  `cargo xtask bench` reports as first open). */
  atMs: { modelLoaded: number; began: number; columns: number; drawn: number; replayed: number; ready: number };
  /** Bytes: the primary's kept windows, its wasm memory, and that memory after each phase but `source`
   *  (wasm memory never shrinks, so the phase where it grows set the peak); the page's and the helpers'. */
  memory: { windows: number; wasm: number; wasmAfter: [number, number, number, number, number]; mainWasm: number; helpersWasm: number };
}

export interface CountscopeReplayEventMap extends HTMLElementEventMap {
  /** A replay is drawn. */
  replayed: CustomEvent<{ report: CountscopeReport; comparison: CountscopeComparison | null; timing: CountscopeTiming }>;
  /** A message was shown (an error, or a warning such as skipped lines). */
  message: CustomEvent<{ kind: 'error' | 'warning' | 'info'; text: string }>;
}

/**
 * `<countscope-replay>`. Attributes:
 * - `recording`, `model`: same-origin URLs (default: the sample model and the 30-minute sample);
 * - `model-b`: a second model (same-origin URL) replayed beside `model` and compared with it (the full
 *   page also reads `?model-b=`; dropping two models does the same);
 * - `layout`: `labelled` (default) | `frame-major` | `as-stored`;
 * - `normalise`: `model` (default) | `recording` (z-score with the recording's own statistics);
 * - `hop`: for a CSI frame file, frames between window starts: `20` (default, no overlap), `10`, `5` or
 *   `1` (RuView's sliding cog);
 * - `workers`: replay workers (default one per core, at most 4; on 2 cores or fewer the first replay runs
 *   on one and the rest start after it, unless this is set);
 * - `start`: the window to open at, a window number (`1234`) or a time from the first window (`754s`,
 *   `12:34`); `view`: the range to zoom onto, `A-B` in the same forms (`1000-1400`, `10:00-12:30`);
 * - `full`: the whole app (drop zone, report panel, exports; reads `?model=`, `?recording=`, `?workers=`,
 *   and a moment from the fragment: `#t=…&view=…&model=…&recording=…`, as "Copy link" writes it);
 * - `state` (set by the element): `idle` | `loading` | `ready` | `error`; `ready` (and the `replayed`
 *   event) come once everything is drawn at the moment opened, readout and heatmap included.
 */
export declare class CountscopeReplayElement extends HTMLElement {
  /** The current window. */
  readonly cursor: number;
  /** The last link "Copy link" made, `undefined` before one. */
  readonly link?: string;
  /** The last replay's report, `null` before one. */
  readonly report: CountscopeReport | null;
  /** The last replay's columns, `null` before one. */
  readonly columns: CountscopeColumns | null;
  /** Model B's columns of the same windows, `null` with one model. */
  readonly columnsB: CountscopeColumns | null;
  /** The two models compared, `null` with one model. */
  readonly comparison: CountscopeComparison | null;
  /** The last replay's timing. */
  readonly timing?: CountscopeTiming;
  /** Replay dropped or picked files (sorted by content). */
  openFiles(files: FileList | File[]): Promise<void>;
  addEventListener<K extends keyof CountscopeReplayEventMap>(type: K, listener: (this: CountscopeReplayElement, ev: CountscopeReplayEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
}

/** Which engine build this browser runs. */
export declare const ENGINE: 'relaxed-simd' | 'simd128';

declare global {
  interface HTMLElementTagNameMap {
    'countscope-replay': CountscopeReplayElement;
  }
}
