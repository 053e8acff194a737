// Links to a moment: the URL fragment (`#t=…&view=…&model=…&recording=…`) and the embed's `start` / `view`
// attributes. The forms, their parsing and their resolution against the replay are the core's
// (src/moment.rs, through Plots.moment and momentFragment); this module moves the text.
import { momentFragment } from '../pkg/countscope.js';

/** The moment a host should open at after a replay: the full page's fragment, or an embed's attributes. */
export function pendingMoment(host) {
  if (host.hasAttribute('full')) return location.hash.length > 1 ? location.hash : null;
  const parts = [['t', host.getAttribute('start')], ['view', host.getAttribute('view')]]
    .filter(([, v]) => v)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
  return parts.length ? parts.join('&') : null;
}

/** Put the cursor and the view where `fragment` points; what cannot be honoured is said. */
export function openMoment(host, fragment) {
  if (!fragment || !host.plots) return;
  try {
    const at = host.plots.moment(fragment, host.modelNames(), host.recordingName ?? undefined);
    if (at.view) host.transport.setView(at.view[0], at.view[1] - at.view[0]);
    if (at.cursor != null) host.transport.seek(at.cursor);
    if (at.warning) host.message('warning', at.warning);
  } catch (e) {
    host.message('error', `the link's moment: ${e.message ?? e}`);
  }
}

/** The link to the current moment: this page's address with the fragment. Written into the address bar
 *  and the clipboard; when the clipboard refuses, the link is shown to copy by hand. */
export async function copyLink(host) {
  if (!host.plots) return null;
  const [a, b] = host.transport.zoom ?? [0, 0];
  const fragment = momentFragment(host.cursor, a, b, host.modelNames(), host.recordingName ?? undefined);
  const url = `${location.origin}${location.pathname}${location.search}#${fragment}`;
  history.replaceState(null, '', url);
  host.link = url;
  const dropped = host.lastSource && !host.lastUrl;
  const note = dropped ? ' (the recording was opened from disk: the link finds the moment once the same recording is open)' : '';
  try {
    await navigator.clipboard.writeText(url);
    host.message('info', `link copied: ${url}${note}`);
  } catch {
    host.message('info', `copy this link: ${url}${note}`);
  }
  return url;
}
