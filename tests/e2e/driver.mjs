// One small page API over two drivers, so the end-to-end checks (e2e.mjs) are one test body for every
// browser: playwright-core drives Debian's Chromium over CDP, and selenium-webdriver drives Debian's Firefox
// ESR through geckodriver (W3C WebDriver, with WebDriver BiDi for console and network events). Neither
// downloads a browser or a driver: both are given their binaries' paths.
//
// The API is the part of playwright's `Page` the checks need, plus three verbs that differ by driver:
// `wheelOver` (a wheel turn over an element found by a page function), `download` (the bytes a click
// saves) and `colorScheme` (prefers-color-scheme). Page functions are plain functions: they are sent as
// source, so they must not close over test variables (pass those as the one `arg`).

import { readFileSync, readdirSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The browsers the suite knows, by the name `BROWSER` takes. */
export const BROWSERS = ['chromium', 'firefox'];

/**
 * Launch `name` ('chromium' or 'firefox'). `out` is a scratch directory (downloads land there);
 * `scriptSeconds` bounds one `evaluate` (WebDriver's script timeout; playwright has none).
 * Resolves with `{ name, version, newPage(viewport), close(), errors, requests, failed }`: `errors`
 * collects uncaught page exceptions and console errors from every page, `requests` every URL any page
 * requested, `failed` every response with an HTTP status of 400 or more ("HTTP 404 url").
 */
export async function launch(name, { out, scriptSeconds = 180 }) {
  if (name === 'chromium') return launchChromium(out);
  if (name === 'firefox') return launchFirefox(out, scriptSeconds);
  throw new Error(`BROWSER=${name}: expected one of ${BROWSERS.join(', ')}`);
}

async function launchChromium(out) {
  const { chromium } = await import('playwright-core');
  // (--enable-precise-memory-info: performance.memory unrounded, for the bench's long run.)
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-dev-shm-usage', '--enable-precise-memory-info'] });
  const errors = [];
  const requests = [];
  const failed = [];
  const wrap = (page) => {
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
    page.on('request', (r) => requests.push(r.url()));
    page.on('response', (r) => { if (r.status() >= 400) failed.push(`HTTP ${r.status()} ${r.url()}`); });
    return {
      raw: page,
      goto: (url) => page.goto(url),
      reload: () => page.reload(),
      close: () => page.close(),
      evaluate: (fn, arg) => page.evaluate(fn, arg),
      // Resolves with the function's (truthy) value, as the WebDriver side does.
      waitForFunction: async (fn, arg, { timeout = 30_000 } = {}) => (await page.waitForFunction(fn, arg, { timeout })).jsonValue(),
      waitForSelector: (sel, { timeout = 30_000 } = {}) => page.waitForSelector(sel, { timeout }),
      press: (key) => page.keyboard.press(key),
      click: (sel) => page.click(sel),
      sleep: (ms) => page.waitForTimeout(ms),
      screenshot: (path, { fullPage = false } = {}) => page.screenshot({ path, fullPage }),
      async wheelOver(find, dy) {
        const r = await (await page.evaluateHandle(find)).asElement().boundingBox();
        await page.mouse.move(r.x + r.width / 2, r.y + r.height / 2);
        await page.mouse.wheel(0, dy);
      },
      async download(click) {
        const wait = page.waitForEvent('download');
        await click();
        return readFileSync(await (await wait).path());
      },
      colorScheme: (scheme) => page.emulateMedia({ colorScheme: scheme }),
    };
  };
  return {
    name: 'chromium',
    version: browser.version(),
    errors,
    requests,
    failed,
    newPage: async ({ width = 1280, height = 1200, clipboard = false } = {}) =>
      wrap(await browser.newPage({ viewport: { width, height }, permissions: clipboard ? ['clipboard-read', 'clipboard-write'] : [] })),
    close: () => browser.close(),
  };
}

async function launchFirefox(out, scriptSeconds) {
  const { Builder, Browser, Key } = await import('selenium-webdriver');
  const firefox = await import('selenium-webdriver/firefox.js');
  const geckodriver = process.env.GECKODRIVER;
  if (!geckodriver) throw new Error('GECKODRIVER must name the geckodriver binary (cargo xtask test sets it)');
  // Absolute: Firefox ignores a relative download directory and saves to ~/Downloads instead.
  const downloads = resolve(out, 'downloads-firefox');
  rmSync(downloads, { recursive: true, force: true });
  mkdirSync(downloads, { recursive: true });

  const options = new firefox.Options()
    .setBinary('/usr/bin/firefox-esr')
    .addArguments('-headless')
    .windowSize({ width: 1280, height: 1500 });
  options.enableBidi();
  // The clipboard without a user gesture or the paste prompt (Chromium's test gets the same by permission).
  options.setPreference('dom.events.testing.asyncClipboard', true);
  // Saves land in `downloads` without a dialog.
  options.setPreference('browser.download.folderList', 2);
  options.setPreference('browser.download.dir', downloads);
  options.setPreference('browser.download.useDownloadDir', true);
  options.setPreference('browser.download.always_ask_before_handling_new_types', false);
  options.setPreference('browser.helperApps.neverAsk.saveToDisk', 'text/csv,application/json,image/png,application/octet-stream');
  // The chrome context (for the colour-scheme pref) needs geckodriver's consent.
  const service = new firefox.ServiceBuilder(geckodriver).addArguments('--allow-system-access');
  const driver = await new Builder().forBrowser(Browser.FIREFOX).setFirefoxOptions(options).setFirefoxService(service).build();
  await driver.manage().setTimeouts({ script: scriptSeconds * 1000, pageLoad: 120_000 });

  const errors = [];
  const requests = [];
  const failed = [];
  // WebDriver BiDi events, read off the socket by method name. (selenium's LogInspector and Network
  // helpers hand every event on the socket to every subscriber, a request listener included, so their
  // callbacks see other events' data; the raw messages say which event they are.)
  const bidi = await driver.getBidi();
  await bidi.subscribe(['log.entryAdded', 'network.beforeRequestSent', 'network.responseCompleted']);
  (await bidi.socket).on('message', (raw) => {
    let m;
    try {
      m = JSON.parse(raw.toString());
    } catch {
      return;
    }
    const p = m.params;
    if (m.type !== 'event' || !p) return;
    if (m.method === 'log.entryAdded' && p.level === 'error') {
      // `javascript` entries are uncaught exceptions, `console` ones console.error.
      errors.push(p.type === 'console' ? `console: ${p.text}` : p.text);
    } else if (m.method === 'network.beforeRequestSent') {
      requests.push(p.request.url);
    } else if (m.method === 'network.responseCompleted' && p.response.status >= 400) {
      failed.push(`HTTP ${p.response.status} ${p.request.url}`);
    }
  });

  let current = await driver.getWindowHandle();
  // The session's first tab stays blank, and every page is a tab of its own: closing a page closes its
  // tab (closing the last one would end the session; navigating a page away instead aborts its loads,
  // which Firefox reports as page errors).
  const home = current;
  const KEYS = { End: Key.END, Home: Key.HOME, ArrowRight: Key.ARROW_RIGHT, ArrowLeft: Key.ARROW_LEFT, ' ': Key.SPACE };

  // Runs a page function as an async script: its value, or its exception rethrown here. The argument and
  // the value cross as JSON text: WebDriver's own round trip through geckodriver moves the last digit of
  // some doubles (seen: 13.823368060139341 returned as 13.82336806013934), so the page's JSON.stringify and
  // Node's JSON.parse, both exact, are the wire.
  const run = async (fn, arg) => {
    const text = await driver.executeAsyncScript(
      `const done = arguments[arguments.length - 1];
       const arg = JSON.parse(arguments[0]);
       Promise.resolve().then(() => (${fn.toString()})(arg))
         .then((v) => done(JSON.stringify({ v: v === undefined ? null : v })), (e) => done(JSON.stringify({ e: String((e && e.stack) || e) })));`,
      JSON.stringify(arg === undefined ? null : arg),
    );
    const got = JSON.parse(text);
    if ('e' in got) throw new Error(`in the page: ${got.e}`);
    return got.v;
  };

  const wrap = (handle) => {
    const focus = async () => {
      if (current !== handle) {
        await driver.switchTo().window(handle);
        current = handle;
      }
    };
    const waitForFunction = async (fn, arg, { timeout = 30_000 } = {}) => {
      await focus();
      const until = Date.now() + timeout;
      for (;;) {
        const v = await run(fn, arg).catch((e) => { if (Date.now() > until) throw e; return null; });
        if (v) return v;
        if (Date.now() > until) throw new Error(`timed out after ${timeout} ms waiting for ${fn.toString().slice(0, 200)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    return {
      raw: driver,
      goto: async (url) => { await focus(); await driver.get(url); },
      reload: async () => { await focus(); await driver.navigate().refresh(); },
      async close() {
        await focus();
        await driver.close();
        current = home;
        await driver.switchTo().window(home);
      },
      evaluate: async (fn, arg) => { await focus(); return run(fn, arg); },
      waitForFunction,
      waitForSelector: (sel, opts) => waitForFunction((sel) => !!document.querySelector(sel), sel, opts),
      async press(key) {
        await focus();
        const k = KEYS[key] ?? key;
        await driver.actions().keyDown(k).keyUp(k).perform();
      },
      async click(sel) {
        await focus();
        await (await driver.findElement({ css: sel })).click();
      },
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      async screenshot(path) {
        // (geckodriver's full-page capture is not in selenium's JS API; the viewport is enough for a look.)
        await focus();
        writeFileSync(path, Buffer.from(await driver.takeScreenshot(), 'base64'));
      },
      async wheelOver(find, dy) {
        await focus();
        const el = await driver.executeScript(`return (${find.toString()})()`);
        await driver.actions().scroll(0, 0, 0, dy, el).perform();
      },
      async download(click) {
        await focus();
        const before = new Set(readdirSync(downloads));
        await click();
        const until = Date.now() + 30_000;
        for (;;) {
          const fresh = readdirSync(downloads).filter((f) => !before.has(f) && !f.endsWith('.part'));
          // Complete when Firefox has removed its .part companion and the size holds still.
          if (fresh.length && !readdirSync(downloads).some((f) => f.endsWith('.part'))) {
            const path = join(downloads, fresh[0]);
            const size = statSync(path).size;
            await new Promise((r) => setTimeout(r, 100));
            if (size > 0 && statSync(path).size === size) return readFileSync(path);
          }
          if (Date.now() > until) throw new Error(`no download in ${downloads} within 30 s`);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      async colorScheme(scheme) {
        await focus();
        // Firefox's content override: 0 dark, 1 light, 2 the system's.
        await driver.setContext('chrome');
        try {
          await driver.executeScript(`Services.prefs.setIntPref('layout.css.prefers-color-scheme.content-override', ${scheme === 'dark' ? 0 : 1})`);
        } finally {
          await driver.setContext('content');
        }
      },
    };
  };

  return {
    name: 'firefox',
    version: (await driver.getCapabilities()).get('browserVersion'),
    errors,
    requests,
    failed,
    async newPage({ width = 1280, height = 1200 } = {}) {
      await driver.switchTo().newWindow('tab');
      const handle = await driver.getWindowHandle();
      current = handle;
      await driver.manage().window().setRect({ width, height });
      return wrap(handle);
    },
    close: () => driver.quit(),
  };
}
