// The transport: the cursor (the current window), play at real time, step, jump to wrong windows (or, with
// two models, to the windows where they disagree), and the zoomed view (wheel, drag, keys). Positions come from the plots' own frame (Plots.indexAt / windowsAcross).

export const SPEEDS = [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64];
const KEYS = { ' ': 'play', ArrowLeft: 'back', ArrowRight: 'fwd', Home: 'home', End: 'end', n: 'next-wrong', N: 'prev-wrong', p: 'prev-wrong', '+': 'zoom-in', '=': 'zoom-in', '-': 'zoom-out', 0: 'zoom-all' };

export class Transport {
  /** `host` has `plots`, `columns`, `$` and `redrawCursor()`. */
  constructor(host) {
    this.host = host;
    this.reset();
    this.playing = false;
    this.speed = 1;
  }

  reset() {
    this.cursor = 0;
    this.zoom = null;
  }

  key(e) {
    if (e.target?.tagName === 'INPUT' && e.target.type !== 'range') return;
    if (e.target?.tagName === 'SELECT') return;
    const act = KEYS[e.key];
    if (!act) return;
    e.preventDefault();
    this.act(act);
  }

  act(what) {
    const p = this.host.plots;
    if (!what || !p || p.isEmpty()) return;
    switch (what) {
      case 'play': return this.playing ? this.pause() : this.play();
      case 'back': return this.seek(this.cursor - 1);
      case 'fwd': return this.seek(this.cursor + 1);
      case 'home': return this.seek(0);
      case 'end': return this.seek(p.len() - 1);
      case 'zoom-in': return this.zoomAt(this.cursor, 1 / 2);
      case 'zoom-out': return this.zoomAt(this.cursor, 2);
      case 'zoom-all': this.zoom = null; return this.host.redrawCursor();
      // With two models, N and P jump between the windows where they disagree.
      case 'next-wrong': { const i = p.isComparing() ? p.nextDisagreement(this.cursor) : p.nextWrong(this.cursor); if (i !== undefined) this.seek(i); return; }
      case 'prev-wrong': { const i = p.isComparing() ? p.prevDisagreement(this.cursor) : p.prevWrong(this.cursor); if (i !== undefined) this.seek(i); return; }
    }
  }

  /** Click to jump, wheel to zoom around the pointer, drag to pan, double-click to see everything. */
  bindPlot(canvas) {
    let drag = null;
    canvas.addEventListener('wheel', (e) => {
      if (!this.host.plots) return;
      e.preventDefault();
      this.zoomAt(this.indexAt(e), e.deltaY < 0 ? 1 / 1.25 : 1.25);
    }, { passive: false });
    canvas.addEventListener('pointerdown', (e) => {
      if (!this.host.plots) return;
      drag = { x: e.clientX, view: this.viewRange(), moved: false };
      canvas.setPointerCapture(e.pointerId);
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      if (!drag.moved || !this.zoom) return;
      const [a, b] = drag.view;
      const shift = Math.round(this.host.plots.windowsAcross(-dx, canvas.getBoundingClientRect().width, a, b));
      this.setView(a + shift, b - a);
    });
    canvas.addEventListener('pointerup', (e) => {
      if (drag && !drag.moved) this.seek(this.indexAt(e));
      drag = null;
    });
    canvas.addEventListener('dblclick', () => { this.zoom = null; this.host.redrawCursor(); });
  }

  /** The window under the pointer, by the plots' own frame. */
  indexAt(e) {
    const rect = e.target.getBoundingClientRect();
    const [a, b] = this.viewRange();
    return this.host.plots.indexAt(e.clientX - rect.left, rect.width, a, b);
  }

  viewRange() {
    return this.zoom ?? [0, this.host.plots.len()];
  }

  setView(start, span) {
    const n = this.host.plots.len();
    span = Math.max(Math.min(20, n), Math.min(n, Math.round(span)));
    start = Math.max(0, Math.min(n - span, Math.round(start)));
    this.zoom = span >= n ? null : [start, start + span];
    this.host.redrawCursor();
  }

  /** Zoom by `factor` (< 1 in) keeping window `i` under the same pixel. */
  zoomAt(i, factor) {
    const [a, b] = this.viewRange();
    const span = (b - a) * factor;
    this.setView(i - (i - a) * (span / (b - a)), span);
  }

  seek(i) {
    if (!this.host.plots) return;
    this.cursor = Math.max(0, Math.min(this.host.plots.len() - 1, i));
    this.host.$('.scrub').value = String(this.cursor);
    // A zoomed view follows the cursor.
    if (this.zoom && (this.cursor < this.zoom[0] || this.cursor >= this.zoom[1])) {
      const span = this.zoom[1] - this.zoom[0];
      this.setView(this.cursor - span / 2, span);
    }
    this.host.redrawCursor();
  }

  /** Real time from the timestamps: the cursor is the last window that started by t0 + elapsed × speed. */
  play() {
    const p = this.host.plots;
    if (!p || this.playing) return;
    if (this.cursor >= p.len() - 1) this.seek(0);
    this.playing = true;
    this.host.$('.play').textContent = 'Pause';
    const ts = this.host.columns.tsStart;
    const timed = Number.isFinite(ts[0]) && Number.isFinite(ts[ts.length - 1]);
    const t0 = timed ? ts[this.cursor] : this.cursor * 0.8;
    const wall0 = performance.now();
    const step = () => {
      if (!this.playing) return;
      const t = t0 + ((performance.now() - wall0) / 1000) * this.speed;
      let i = this.cursor;
      const n = p.len();
      if (timed) { while (i + 1 < n && ts[i + 1] <= t) i++; } else i = Math.min(n - 1, Math.floor(t / 0.8));
      if (i !== this.cursor) this.seek(i);
      if (i >= n - 1) return this.pause();
      this.raf = requestAnimationFrame(step);
    };
    this.raf = requestAnimationFrame(step);
  }

  pause() {
    this.playing = false;
    cancelAnimationFrame(this.raf);
    const b = this.host.$('.play');
    if (b) b.textContent = 'Play';
  }

  setSpeed(speed) {
    this.speed = speed;
    if (this.playing) { this.pause(); this.play(); }
  }
}
