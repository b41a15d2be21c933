import { test, expect, Page, Request } from '@playwright/test';
import { Booket, failOnPageErrors } from './fixtures/booket';

// How the widget reaches a citizen's screen: what the loader asks for, when, and what a
// browser may keep (public/booket.js, tools/finish-widget.mjs, server/src/web/mod.rs).

const host = 'http://127.0.0.1:3902/host.html';
const booketBase = `http://127.0.0.1:${process.env.BOOKET_E2E_PORT ?? 3900}`;
// host.html: three placeholders, three different form/element pairs.
const placeholders = 3;
const hashed = /\/booket\/(app|booket)-[0-9a-f]{16}\.(wasm|js|css)$/;
const apiName = (r: Request) => new URL(r.url()).pathname.replace('/api/', '');
// A call's arguments: the query of a GET (the loader's first reads), the body of a POST.
const argsOf = (r: Request) =>
  r.method() === 'GET' ? new URL(r.url()).searchParams : new URLSearchParams(r.postData() ?? '');
const firstWeek = (r: Request) => apiName(r) === 'week' && argsOf(r).get('week') === '';

test('the first answers are asked for while the widget is still loading, and never twice', async ({ page }) => {
  const errors = failOnPageErrors(page);
  const asked: Request[] = [];
  let allAsked: () => void = () => {};
  const askedAll = new Promise<void>(resolve => (allAsked = resolve));
  page.on('request', r => {
    if (r.url().startsWith(`${booketBase}/api/`)) {
      asked.push(r);
      if (asked.filter(r => apiName(r) === 'element').length === placeholders && asked.filter(firstWeek).length === placeholders) {
        allAsked();
      }
    }
  });
  // Hold the wasm glue and the wasm until every placeholder's element and week have been
  // asked for. A loader that waited for the widget to start before asking (as before) would
  // never ask: the answers then come only after the time-out below, and the test fails.
  let heldUntilAsked = true;
  const hold = async (route: any) => {
    const asked = await Promise.race([askedAll.then(() => true), new Promise(r => setTimeout(() => r(false), 2_000))]);
    if (!asked) heldUntilAsked = false;
    await route.continue();
  };
  await page.route(/\/booket\/app-[0-9a-f]{16}\.(js|wasm)$/, hold);
  await page.goto(host);
  for (let i = 0; i < placeholders; i++) {
    await new Booket(page, i).showWeekWithFreeSlot();
  }
  expect(heldUntilAsked).toBe(true);
  // The widget took the loader's answers: one element and one first week per placeholder.
  expect(asked.filter(r => apiName(r) === 'element')).toHaveLength(placeholders);
  expect(asked.filter(firstWeek)).toHaveLength(placeholders);
  expect(errors).toEqual([]);
});

// The first placeholder's first week, as the loader asks for it.
const firstPlaceholdersWeek = (url: URL) =>
  url.pathname === '/api/week' && url.searchParams.get('form') === 'dobbelt' && url.searchParams.get('element') === 'tid' &&
  url.searchParams.get('week') === '';

// In the page: says on the console when the wasm is compiled (whichever way the loader
// compiles it), and notes whether the first widget had its week in the task that mounted
// it (a message posted as the widget appears is handled in the next task).
function watchStart() {
  for (const name of ['compileStreaming', 'instantiateStreaming'] as const) {
    const real = WebAssembly[name] as (...args: unknown[]) => Promise<unknown>;
    (WebAssembly as any)[name] = (...args: unknown[]) =>
      real.apply(WebAssembly, args).then(done => {
        console.debug('test: wasm compiled');
        return done;
      });
  }
  new MutationObserver((_, observer) => {
    const widget = document.querySelector('[data-testid="booket-widget"]');
    if (!widget) return;
    observer.disconnect();
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      (window as any).weekInMountTask = widget.querySelector('[data-testid="booket-slot"]') !== null;
      console.debug('test: next task');
    };
    channel.port2.postMessage(null);
  }).observe(document, { childList: true, subtree: true });
}

// Stops the page's timers (the loader's 300 ms limit runs out only when the test moves the
// clock on) and watches the start (`watchStart`); `compiled` resolves when the wasm is.
async function stopClockAndWatch(page: Page): Promise<{ compiled: Promise<unknown> }> {
  await page.clock.install();
  await page.clock.pauseAt(Date.now() + 1_000);
  await page.addInitScript(watchStart);
  return { compiled: page.waitForEvent('console', m => m.text() === 'test: wasm compiled') };
}

test("the widget starts with the first element's answers and lays out its week with it", async ({ page }) => {
  const errors = failOnPageErrors(page);
  const { compiled } = await stopClockAndWatch(page);
  const nextTask = page.waitForEvent('console', m => m.text() === 'test: next task');
  // The first element's week comes after the wasm is ready. A loader that started the
  // widget at once (as before) would mount it with a loading placeholder, and its week
  // would come a task (and a layout) later.
  await page.route(firstPlaceholdersWeek, async route => {
    await compiled;
    await route.continue();
  });
  await page.goto(host);
  await nextTask;
  expect(await page.evaluate(() => (window as any).weekInMountTask)).toBe(true);
  await new Booket(page, 0).showWeekWithFreeSlot();
  expect(errors).toEqual([]);
});

test('a first answer later than 300 ms does not hold the widget back: it shows its loading placeholder', async ({ page }) => {
  const errors = failOnPageErrors(page);
  const { compiled } = await stopClockAndWatch(page);
  let release!: () => void;
  const released = new Promise<void>(r => (release = r));
  await page.route(firstPlaceholdersWeek, async route => {
    await released;
    await route.continue();
  });
  await page.goto(host);
  await compiled;
  const booket = new Booket(page, 0);
  // The page's clock moves on in steps until the loader's limit has run out (it is set
  // just after the wasm is ready): then the widget starts without the answer.
  await expect(async () => {
    await page.clock.runFor(100);
    await expect(booket.root.getByTestId('booket-loading')).toBeVisible({ timeout: 100 });
  }).toPass();
  release();
  await booket.showWeekWithFreeSlot();
  expect(errors).toEqual([]);
});

test('the widget loads where the wasm cannot be compiled as it streams in', async ({ page }) => {
  const errors = failOnPageErrors(page);
  // A browser without WebAssembly.compileStreaming (Safari before 15).
  await page.addInitScript(() => {
    delete (WebAssembly as any).compileStreaming;
    delete (WebAssembly as any).instantiateStreaming;
  });
  await page.goto(host);
  await new Booket(page, 0).showWeekWithFreeSlot();
  expect(errors).toEqual([]);
});

test('the widget loads when a proxy serves the wasm without its type', async ({ page }) => {
  const errors = failOnPageErrors(page);
  await page.route(/\/booket\/app-[0-9a-f]{16}\.wasm$/, async route => {
    const real = await route.fetch();
    await route.fulfill({ response: real, headers: { ...real.headers(), 'content-type': 'application/octet-stream' } });
  });
  await page.goto(host);
  await new Booket(page, 0).showWeekWithFreeSlot();
  expect(errors).toEqual([]);
});

test('a placeholder added after the start is mounted and asks for its own answers', async ({ page }) => {
  const errors = failOnPageErrors(page);
  const asked: string[] = [];
  page.on('request', r => {
    if (r.url().startsWith(`${booketBase}/api/element`)) asked.push(r.postData() ?? '');
  });
  await page.goto(host);
  await new Booket(page, 0).showWeekWithFreeSlot();
  // A later step of the form brings a new placeholder, before the others on the page.
  await page.evaluate(() => {
    const el = document.createElement('div');
    el.dataset.booketForm = 'valgfri';
    el.dataset.booketElement = 'tid';
    document.querySelector('#two')!.prepend(el);
  });
  await expect(page.getByTestId('booket-widget')).toHaveCount(placeholders + 1);
  const late = new Booket(page, 0);
  await late.showWeekWithFreeSlot();
  expect(asked).toHaveLength(placeholders + 1);
  // Ids stay unique across the widgets (the late one is numbered after the others).
  const ids = await page.locator('[id^="booket-"]').evaluateAll(els => els.map(e => e.id));
  expect(new Set(ids).size).toBe(ids.length);
  expect(errors).toEqual([]);
});

test('the files are kept a year under their content names; a second visit asks only for the answers', async ({ page, context }) => {
  const seen = new Map<string, string>();
  page.on('response', res => {
    if (res.url().includes('/booket/')) seen.set(new URL(res.url()).pathname, res.headers()['cache-control'] ?? '');
  });
  await page.goto(host);
  await new Booket(page, 0).showWeekWithFreeSlot();
  const names = [...seen.keys()];
  expect(names.filter(n => hashed.test(n))).toHaveLength(3); // wasm, glue, stylesheet
  for (const [name, cache] of seen) {
    expect(cache, name).toBe(hashed.test(name) ? 'public, max-age=31536000, immutable' : 'public, max-age=300');
  }
  expect(seen.has('/booket/booket.js')).toBe(true);

  // A second visit in the same browser: Chromium's DevTools protocol tells which requests
  // were answered from its cache and which went to the network.
  const second = await context.newPage();
  const cdp = await context.newCDPSession(second);
  await cdp.send('Network.enable');
  const fromCache = new Set<string>();
  const network: string[] = [];
  cdp.on('Network.requestServedFromCache', e => fromCache.add(e.requestId));
  cdp.on('Network.responseReceived', e => {
    const url = new URL(e.response.url);
    if (url.port !== '3900') return;
    if (e.response.fromDiskCache || e.response.fromPrefetchCache || fromCache.has(e.requestId)) return;
    network.push(url.pathname);
  });
  await second.goto(host);
  await new Booket(second, 0).showWeekWithFreeSlot();
  await new Booket(second, 2).showWeekWithFreeSlot();
  expect(network.filter(p => !p.startsWith('/api/'))).toEqual([]);
  expect(network.filter(p => p === '/api/element')).toHaveLength(placeholders);
});

test('the loader is asked again with If-Modified-Since and answered 304 when unchanged', async ({ request }) => {
  const first = await request.get(`${booketBase}/booket/booket.js`);
  expect(first.status()).toBe(200);
  const lastModified = first.headers()['last-modified'];
  expect(lastModified).toBeTruthy();
  const again = await request.get(`${booketBase}/booket/booket.js`, { headers: { 'If-Modified-Since': lastModified } });
  expect(again.status()).toBe(304);
  expect(again.headers()['cache-control']).toBe('public, max-age=300');
  // Brotli when the browser takes it (precompressed at build time).
  const br = await request.get(`${booketBase}/booket/booket.js`, { headers: { 'Accept-Encoding': 'br' } });
  expect(br.headers()['content-encoding']).toBe('br');
});

test("Booket's own form page names the widget's files and first answers in its head, and each is fetched once", async ({ page }) => {
  const errors = failOnPageErrors(page);
  const consoleWarnings: string[] = [];
  page.on('console', m => {
    if (m.type() === 'warning' && /preload/i.test(m.text())) consoleWarnings.push(m.text());
  });
  const fetched: string[] = [];
  const reads: string[] = [];
  page.on('request', r => {
    const url = new URL(r.url());
    if (hashed.test(url.pathname)) fetched.push(url.pathname);
    if (url.pathname.startsWith('/api/')) reads.push(`${r.method()} ${url.pathname}${url.search}`);
  });
  await page.goto(`${booketBase}/`);
  // The demo form has two placeholders.
  await new Booket(page, 0).showWeekWithFreeSlot();
  await new Booket(page, 1).showWeekWithFreeSlot();
  const hints = await page.evaluate(() =>
    [...document.head.querySelectorAll('link[rel=preload], link[rel=modulepreload], link[data-booket-css]')].map(l => {
      const url = new URL((l as HTMLLinkElement).href);
      return url.pathname + url.search;
    }),
  );
  const fileHints = hints.filter(h => h.startsWith('/booket/'));
  const readHints = hints.filter(h => h.startsWith('/api/'));
  expect(fileHints).toHaveLength(3);
  for (const h of fileHints) expect(h).toMatch(hashed);
  // Each placeholder's element and first week.
  expect(readHints).toEqual([
    '/api/element?form=demo&element=tid',
    '/api/week?form=demo&element=tid&week=&hold=',
    '/api/element?form=demo&element=jobcenter',
    '/api/week?form=demo&element=jobcenter&week=&hold=',
  ]);
  // The loader's own fetch and import used the preloaded answers: had the hints asked
  // differently (a missing `crossorigin`, say, or another URL than the loader's), Chromium
  // would fetch the file again, or ask again for the answer.
  expect(fetched.sort()).toEqual([...fileHints].sort());
  expect(reads.sort()).toEqual(readHints.map(h => `GET ${h}`).sort());
  // Nor did the loader add a second stylesheet.
  expect(await page.locator('link[data-booket-css]').count()).toBe(1);
  expect(consoleWarnings).toEqual([]);
  expect(errors).toEqual([]);
});
