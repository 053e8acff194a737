// The element's markup: the load bar, the transport, the plots' canvases, the report and the exports.
import { here } from './engine.js';
import { SPEEDS } from './transport.js';

export const TEMPLATE = document.createElement('template');
TEMPLATE.innerHTML = `
<link rel="stylesheet" href="${here('../countscope-replay.css')}">
<div class="root" tabindex="0">
  <div class="drop-overlay" hidden>Drop a recording, a model (.onnx with its .onnx.data or .safetensors, or a CountNet .safetensors alone), a .temperature</div>
  <div class="bar load-bar">
    <span class="sources"></span>
    <span class="synthetic" hidden title="These windows were made by a simulator, not measured">SYNTHETIC</span>
    <span class="real" hidden title="No simulator tag: measured CSI, without ground truth">REAL, UNLABELLED</span>
    <span class="grow"></span>
    <button class="full-only" data-act="open" title="Open a recording, a model (+ .onnx.data or .safetensors, or a .safetensors alone), a .temperature">Open files…</button>
    <input type="file" multiple hidden>
  </div>
  <div class="progress" hidden><progress max="1" value="0"></progress><span></span><button data-act="cancel" title="Stop reading; keep what was loaded before">Cancel</button></div>
  <div class="messages" role="status" aria-live="polite"></div>
  <div class="bar transport" role="toolbar" aria-label="Replay">
    <button data-act="home" title="First window (Home)">|◀</button>
    <button data-act="prev-wrong" title="Previous wrong window (P)">◀ wrong</button>
    <button data-act="back" title="Step back (←)">◀</button>
    <button data-act="play" class="play" title="Play / pause (Space)">Play</button>
    <button data-act="fwd" title="Step forward (→)">▶</button>
    <button data-act="next-wrong" title="Next wrong window (N)">wrong ▶</button>
    <button data-act="end" title="Last window (End)">▶|</button>
    <select class="speed" title="Replay speed (real time from the timestamps)" aria-label="Speed">
      ${SPEEDS.map((s) => `<option value="${s}" ${s === 1 ? 'selected' : ''}>${s}×</option>`).join('')}
    </select>
    <input class="scrub" type="range" min="0" max="0" value="0" aria-label="Window">
    <button class="full-only" data-act="link" title="Copy a link to this moment: the window, the zoom, the model and the recording">Copy link</button>
  </div>
  <div class="readout" aria-live="off"></div>
  <p class="no-truth">This recording carries no ground truth: the plots show what the model predicts and how
    sure it is, and nothing here says whether it is right (no accuracy, confusion or reliability).</p>
  <div class="plots">
    <figure class="wide"><figcaption><span class="one-model">Predicted count (blue, 95 % band) vs ground truth (grey); wrong windows shaded red</span><span class="two-models">Model A (blue, wide) and model B (orange, thin) vs ground truth (grey); windows where they disagree shaded</span> · <span class="zoom-note"></span></figcaption><canvas data-plot="timeline"></canvas></figure>
    <figure class="wide"><figcaption>Confidence: right (teal), wrong (red), unlabelled (grey)<span class="two-models"> of model A; model B's as an orange line</span></figcaption><canvas data-plot="confidence"></canvas></figure>
    <figure class="wide nodes-only"><figcaption>Per node: the predicted count (0 at a lane's foot, 7 at its head) of each ESP32 node's own windows, held from each of its windows to its next, over the same windows as above; broken where a node went quiet for longer than a window (a gap, frames skipped)</figcaption><canvas data-plot="nodes"></canvas></figure>
    <figure class="wide two-models"><figcaption>Difference: windows model A got right minus windows model B got right, so far (rising: A ahead)</figcaption><canvas data-plot="difference"></canvas></figure>
    <figure><figcaption>Current window (56 subcarriers × 20 frames)</figcaption><canvas data-plot="heatmap"></canvas></figure>
    <figure><figcaption>Class probabilities (truth outlined)<span class="two-models">: A left (blue), B right (orange)</span></figcaption><canvas data-plot="probs"></canvas></figure>
    <figure class="labelled-only"><figcaption>Confusion (rows: truth)<span class="two-models"> of model A</span></figcaption><canvas data-plot="confusion"></canvas></figure>
    <figure class="labelled-only"><figcaption>Reliability of the confidence<span class="two-models"> of model A</span></figcaption><canvas data-plot="reliability"></canvas></figure>
  </div>
  <section class="comparison two-models"></section>
  <section class="report"></section>
  <div class="bar exports full-only">
    <label>Targets <select class="targets"><option value="v0.1.0">ADR-103 v0.1.0</option><option value="v0.2.0">ADR-103 v0.2.0</option></select></label>
    <label><input type="checkbox" class="cross-room"> cross-room</label>
    <label title="How a flat csi array maps onto the model's [56][20] (the CLI's --layout)">Layout <select class="layout"><option value="labelled">as labelled (csi_shape)</option><option value="frame-major">frame-major [20][56]</option><option value="as-stored">as stored</option></select></label>
    <label title="Z-score each subcarrier before the model (the CLI's --normalise): with the model's own statistics when it carries them, or with the recording's own (read in a first pass) for a model that carries none, as RuView's own">Normalise <select class="normalise"><option value="model">model's own</option><option value="recording">recording's statistics</option></select></label>
    <label title="For a CSI frame file (RuView's recorder or raw ESP32 frames): frames between window starts (the CLI's --hop). Windows are 20 frames of one node and never span a gap">Hop <select class="hop"><option value="20">20 (no overlap)</option><option value="10">10</option><option value="5">5</option><option value="1">1 (RuView's sliding cog)</option></select></label>
    <span class="grow"></span>
    <button data-act="csv">Per-frame CSV</button>
    <button data-act="json">Report JSON</button>
    <button data-act="png">Plots PNG</button>
  </div>
</div>`;
