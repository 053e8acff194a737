// Exports: the per-frame CSV and the report JSON (the core's), and every plot in one PNG.

function download(name, blob) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** `what` is `csv`, `json` or `png`; returns whether it was an export. */
export function exportAs(host, what) {
  const name = host.recordingName;
  if (what === 'csv' && host.plots) download(`${name}.frames.csv`, new Blob([host.plots.csv()], { type: 'text/csv' }));
  else if (what === 'json' && host.report) download(`${name}.report.json`, new Blob([JSON.stringify(host.report, null, 2)], { type: 'application/json' }));
  else if (what === 'png' && host.plots) {
    // The plots shown, stacked, at the screen's resolution (a hidden plot's canvas holds nothing of this replay).
    const canvases = [...host.shadowRoot.querySelectorAll('canvas')].filter((c) => c.checkVisibility());
    const out = document.createElement('canvas');
    out.width = Math.max(...canvases.map((c) => c.width));
    out.height = canvases.reduce((h, c) => h + c.height, 0);
    const ctx = out.getContext('2d');
    let y = 0;
    for (const c of canvases) { ctx.drawImage(c, 0, y); y += c.height; }
    out.toBlob((b) => download(`${name}.plots.png`, b), 'image/png');
  } else return ['csv', 'json', 'png'].includes(what);
  return true;
}
