// The report panel, the readout of the current window, and the messages: text from the core's report and
// frames, put into the element's shadow DOM.

export const fmt = {
  pct: (v) => (v == null ? '—' : `${(100 * v).toFixed(1)} %`),
  num: (v, d = 3) => (v == null ? '—' : Number(v).toFixed(d)),
  mb: (b) => `${(b / 1e6).toFixed(1)} MB`,
  /** `bytes` read, and of how many when the total is known. */
  mbOf: (b, total) => `${fmt.mb(b)}${total ? ` of ${fmt.mb(total)}` : ''}`,
  clock(s) {
    if (!Number.isFinite(s)) return '—';
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s / 60) % 60), ss = String(s % 60).padStart(2, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
  },
};
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A dismissable message, also dispatched as a `message` event. */
export function message(host, kind, text) {
  const div = document.createElement('div');
  div.className = `msg ${kind}`;
  div.innerHTML = `<span>${esc(text)}</span><button aria-label="Dismiss">×</button>`;
  div.querySelector('button').onclick = () => div.remove();
  host.$('.messages').appendChild(div);
  host.dispatchEvent(new CustomEvent('message', { detail: { kind, text } }));
}

/** The bad lines and an early end of the input, as warnings: the rest was replayed. */
export function showBadLines(host, r) {
  if (r.skipped_lines > 0) {
    const listed = r.bad_lines.slice(0, 8).map((b) => `line ${b.line}: ${b.reason}`);
    const more = r.skipped_lines > listed.length ? ` … and ${r.skipped_lines - listed.length} more (all in the report)` : '';
    message(host, 'warning', `${r.skipped_lines} bad line(s) skipped, the rest replayed — ${listed.join('; ')}${more}`);
  }
  if (r.recording.stream_error) message(host, 'warning', `the input stops early: ${r.recording.stream_error}; everything before it was replayed`);
}

/** The current window: `f` is the core's FramePrediction, `elapsed` seconds since the first window. */
export function renderReadout(el, i, n, f, elapsed, b) {
  const verdict = (g) => (g.correct == null ? 'unlabelled' : g.correct ? 'right' : 'wrong');
  const model = (g, label) => `<span>${label}predicted <b>${g.count}</b> <span class="verdict ${verdict(g)}">${verdict(g)}</span></span>
    <span>95 % ${g.count_p95_low}–${g.count_p95_high}</span>
    <span>confidence <b>${fmt.num(g.confidence, 3)}</b></span>`;
  el.innerHTML = `<b>window ${i + 1} / ${n}</b>
    <span>${esc(f.ts_start ?? 'no time')} (+${fmt.clock(elapsed)})</span>
    <span>line ${f.line}${f.node != null ? ` · node ${f.node}` : ''}</span>
    <span>truth <b>${f.truth ?? '—'}</b>${f.truth_max != null && f.truth_max !== f.truth ? ` (max ${f.truth_max})` : ''}</span>
    ${b ? `${model(f, 'A ')}<span class="model-b">${model(b, 'B ')}</span>` : model(f, '')}`;
}

/** Two models compared: the same struct `countscope compare --json` prints, with its text. */
export function renderComparison(el, c, text) {
  if (!c) { el.innerHTML = ''; return; }
  const [a, b] = c.models;
  const p = c.paired;
  const iv = (i, f) => (i ? `${f(i.low)} to ${f(i.high)}` : '—');
  const pts = (v) => (v == null ? '—' : `${v > 0 ? '+' : ''}${(100 * v).toFixed(1)} points`);
  const signed = (v) => (v == null ? '—' : `${v > 0 ? '+' : ''}${Number(v).toFixed(3)}`);
  const row = (label, key, f, df) => {
    const d = p?.[key];
    return `<tr data-compare="${key}"><th>${label}</th><td>${f(a.metrics[key])}</td><td class="interval">${iv(a.uncertainty?.[key], f)}</td><td>${f(b.metrics[key])}</td><td class="interval">${iv(b.uncertainty?.[key], f)}</td>${df ? `<td class="${d?.significant ? 'better' : ''}">${d ? df(d.a_minus_b) : '—'}</td><td class="interval">${d ? iv(d.interval, df) : '—'}</td>` : '<td></td><td></td>'}</tr>`;
  };
  const verdict = c.better ? `${c.better === 'a' ? 'A' : 'B'} (${esc(c.better === 'a' ? a.name : b.name)}) is better` : p ? 'no significant difference' : 'not comparable without labels';
  const classes = c.per_class.map((k) => `<tr><th>${k.class}</th><td>${k.support}</td><td>${k.a_correct}</td><td>${k.b_correct}</td><td>${pts(k.difference)}</td></tr>`).join('');
  el.innerHTML = `
    <h3>A vs B <span class="verdict ${c.better ? 'right' : 'unlabelled'}" data-compare="verdict">${verdict}</span></h3>
    <p>A = <b>${esc(a.name)}</b>, B = <b>${esc(b.name)}</b>: ${c.windows.toLocaleString()} windows, counts differ on ${c.disagreements.toLocaleString()}.</p>
    <table class="metrics" data-report="comparison">
      <tr><th></th><th>A</th><th>95 %</th><th>B</th><th>95 %</th><th>A − B</th><th>95 %</th></tr>
      ${row('accuracy', 'accuracy', fmt.pct, pts)}
      ${row('within ±1', 'within_pm1', fmt.pct, pts)}
      ${row('MAE', 'mae', fmt.num, signed)}
      ${row('Spearman (confidence, correct)', 'spearman', fmt.num)}
      ${row('Brier', 'brier', fmt.num)}
      ${row('ECE', 'ece', fmt.num)}
    </table>
    ${p ? `<p data-compare="paired">Paired on ${p.windows.toLocaleString()} labelled windows: both right ${p.both_right}, only A right ${p.only_a_right}, only B right ${p.only_b_right}, both wrong ${p.both_wrong}; McNemar's exact p = ${p.mcnemar_p.toExponential(2)} (takes windows as independent). ${esc(p.description)}.</p>` : ''}
    <ul class="findings">${c.findings.map((f) => `<li class="${f.severity}"><code>${esc(f.code)}</code> ${esc(f.message)}</li>`).join('')}</ul>
    <details><summary>Per class, and as <code>countscope compare</code> prints it</summary>
      <table class="metrics"><tr><th>class</th><th>support</th><th>A right</th><th>B right</th><th>A − B</th></tr>${classes}</table>
      <pre>${esc(text ?? '')}</pre></details>`;
}

/** The report, the same struct `countscope report --json` prints, with its text. */
export function renderReport(el, r, text, modelName) {
  const u = r.uncertainty;
  // A metric's 95 % interval, in the metric's own format.
  const iv = (i, f) => (i ? `${f(i.low)} to ${f(i.high)}` : '—');
  const row = (k, v, note = '', i = '') => `<tr><th>${k}</th><td>${v}</td><td class="interval">${i}</td><td class="note">${note}</td></tr>`;
  const metric = (key, v) => `<span data-metric="${key}">${v}</span>`;
  const interval = (key, f) => `<span data-interval="${key}">${iv(u?.[key], f)}</span>`;
  const gates = r.gates.map((g) => `<tr class="${g.status}"><th>${esc(g.name)}</th><td>${g.direction === 'at_least' ? '≥' : '≤'} ${g.target}</td><td>${g.measured == null ? '—' : fmt.num(g.measured, 3)}</td><td class="interval">${iv(g.interval, (v) => fmt.num(v, 3))}</td><td>${esc(g.status.replace(/_/g, ' '))}${g.note ? ' — ' + esc(g.note) : ''}</td></tr>`).join('');
  const findings = r.findings.map((f) => `<li class="${f.severity}"><code>${esc(f.code)}</code> ${esc(f.message)}</li>`).join('');
  const bad = r.bad_lines.map((b) => `<li>line ${b.line}: ${esc(b.reason)}</li>`).join('');
  el.innerHTML = `
    <h3>Report<span class="two-models"> of model A</span> <span class="verdict ${r.gates_passed ? 'right' : 'wrong'}">${r.gates_passed ? 'gates passed' : 'gates not met'}</span></h3>
    ${r.recording.synthetic_windows ? `<p class="synthetic-note"><b>SYNTHETIC:</b> ${r.recording.synthetic_windows.toLocaleString()} of ${r.windows.toLocaleString()} windows were made by a simulator, not measured${r.recording.synthetic_source ? ` (<code>${esc(r.recording.synthetic_source)}</code>)` : ''}.</p>` : ''}
    <div class="cols">
    <table class="metrics" data-report="metrics">
      <tr><th></th><th>value</th><th>95 % interval</th><th></th></tr>
      ${row('windows', metric('windows', r.windows), `${r.labelled_windows} labelled`)}
      ${row('accuracy', metric('accuracy', fmt.pct(r.accuracy)), r.majority_baseline == null ? '' : `always answering ${r.majority_class}: ${fmt.pct(r.majority_baseline)}`, interval('accuracy', fmt.pct))}
      ${row('within ±1', metric('within_pm1', fmt.pct(r.within_pm1)), r.label_range ? `labels span ${r.label_range[0]}–${r.label_range[1]}` : '', interval('within_pm1', fmt.pct))}
      ${row('MAE', metric('mae', fmt.num(r.mae)), '', interval('mae', fmt.num))}
      ${row('Spearman (confidence, correct)', metric('spearman', fmt.num(r.spearman)), r.spearman_undefined ? esc(r.spearman_undefined.replace(/_/g, ' ')) : '', interval('spearman', fmt.num))}
      ${row('Brier', metric('brier', fmt.num(r.brier)), '', interval('brier', fmt.num))}
      ${row('ECE', metric('ece', fmt.num(r.ece)), '', interval('ece', fmt.num))}
      ${row('skipped lines', metric('skipped_lines', r.skipped_lines))}
    </table>
    <table class="gates"><tr><th>gate</th><th>target</th><th>measured</th><th>95 % interval</th><th>verdict</th></tr>${gates}</table>
    </div>
    ${u ? `<p class="uncertainty">${esc(u.description)}</p>` : ''}
    <h4>What it means</h4><ul class="findings">${findings || '<li>nothing to flag</li>'}</ul>
    ${r.recording.framing ? `<p class="framing"><b>Framing:</b> ${esc(r.recording.framing.description).replace(/\n/g, '<br>')}</p>` : ''}
    <p><b>Layout:</b> ${esc(r.layout.description)}</p>
    <p><b>Calibration:</b> ${esc(r.calibration.description)}</p>
    ${r.input ? `<p class="input-summary"><b>Fed:</b> ${esc(r.input.description)}</p>` : ''}
    ${r.model.weights.length > 1 ? `<p class="weights"><b>Weights:</b> ${r.model.weights.map((w) => `${w.tensors.length} tensor(s) from ${esc(w.file)}`).join(', ')}</p>` : ''}
    <p><b>Input:</b> ${fmt.mb(r.recording.bytes)}${r.recording.gzip ? ' (gzip)' : ''} · model ${esc(modelName ?? '')}: ${r.model.parameters.toLocaleString()} parameters, ${esc(r.model.producer)}, batch ${r.model.batch_size}</p>
    ${bad ? `<details open class="bad-lines"><summary>${r.skipped_lines} bad line(s)${r.skipped_lines > r.bad_lines.length ? ` (first ${r.bad_lines.length} listed)` : ''}</summary><ul>${bad}</ul></details>` : ''}
    <details><summary>As <code>countscope report</code> prints it</summary><pre>${esc(text ?? '')}</pre></details>`;
}
