// What bench/browser.mjs and bench/loader-ab.mjs share: Debian's Chromium through
// Playwright, the phone profile, and one visit timed from navigation start to the first
// time button in the document.
import { createRequire } from "node:module";

const require = createRequire(new URL("../end2end/package.json", import.meta.url));
const { chromium } = require("playwright-core");

export const profiles = {
  // A mid-range phone on fast 4G (issue 26): added round trip per request, bandwidth, CPU.
  phone: { latency: 60, down: (9e6 / 8) | 0, up: (1.5e6 / 8) | 0, cpu: 4 },
  loopback: null,
};

export const launch = () =>
  chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });

// The time is taken in the page itself: a MutationObserver installed before any script
// notes performance.now() (milliseconds since navigation start) when the first
// [data-testid=booket-slot] is in the document, and says so on the console. The harness
// only listens: asking the page (page.evaluate, waitForFunction) would inject Playwright's
// own script into it, and compiling that took 25–55 ms of the page's main thread in the
// middle of the measured start (seen in a Chromium trace at 4x CPU), which no citizen's
// phone spends.
const watch = () => {
  const seen = () => {
    if (!window.__firstSlot && document.querySelector('[data-testid="booket-slot"]')) {
      window.__firstSlot = performance.now();
      performance.mark("booket-first-slot");
      console.debug(`booket-first-slot ${window.__firstSlot}`);
    }
  };
  new MutationObserver(seen).observe(document, { childList: true, subtree: true });
};

// One visit of `url` in `context` with `profile` (null: no emulation): milliseconds to the
// first slot, and with `traced` the events of a Chromium trace of the visit (V8's wasm
// events and the page's own marks) up to then.
export async function visit(browser, context, url, profile, traced = false) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  if (profile) {
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: profile.latency,
      downloadThroughput: profile.down,
      uploadThroughput: profile.up,
    });
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: profile.cpu });
  }
  await page.addInitScript(watch);
  const seen = page.waitForEvent("console", {
    predicate: (m) => m.text().startsWith("booket-first-slot "),
    timeout: 30_000,
  });
  if (traced) await browser.startTracing(page, { categories: ["v8.wasm", "blink.user_timing"] });
  await page.goto(url);
  const ms = Number((await seen).text().split(" ")[1]);
  const trace = traced ? JSON.parse(await browser.stopTracing()).traceEvents : null;
  await page.close();
  return { ms, trace };
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const range = (xs) => `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`;
