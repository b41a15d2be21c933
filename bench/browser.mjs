// Time to the first time button on screen, in Debian's Chromium (run by bench/browser.sh).
//   node bench/browser.mjs RUNS CURRENT_URL PREVIOUS_URL FLOOR_URL COMMIT
// Each run opens a fresh browser context (empty cache), loads the page (first visit), then
// loads it again in the same context (second visit). The time is taken in the page itself:
// a MutationObserver installed before any script notes performance.now() (milliseconds
// since navigation start) when the first [data-testid=booket-slot] is in the document, and
// says so on the console. The harness only listens: asking the page (page.evaluate,
// waitForFunction) would inject Playwright's own script into it, and compiling that took
// 25–55 ms of the page's main thread in the middle of the measured start (seen in a
// Chromium trace at 4x CPU), which no citizen's phone spends. One more first visit of this
// build, traced, counts the wasm functions compiled on the main thread before the first
// slot (see lazyCompiles): a number the machine's noise does not move.
import { createRequire } from "node:module";

const require = createRequire(new URL("../end2end/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const [runs, currentUrl, previousUrl, floorUrl, commit] = process.argv.slice(2);
const urls = { current: currentUrl, previous: previousUrl, floor: floorUrl };
const RUNS = Number(runs);
const profiles = {
  // A mid-range phone on fast 4G (issue 26): added round trip per request, bandwidth, CPU.
  phone: { latency: 60, down: (9e6 / 8) | 0, up: (1.5e6 / 8) | 0, cpu: 4 },
  loopback: null,
};

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

// One visit: milliseconds to the first slot, and with `traced` also the wasm functions
// compiled on the main thread before it (see lazyCompiles).
async function visit(context, url, profile, traced = false) {
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
  const compiles = traced ? lazyCompiles(JSON.parse(await browser.stopTracing()).traceEvents) : null;
  await page.close();
  return { ms, compiles };
}

// V8 compiles a wasm function the first time it is called, on the thread that calls it
// (lazy compilation, Chromium's default): on a first visit every function the widget runs
// before its first slot is compiled on the page's main thread, which the phone profile
// slows 4x. Counted from a trace of V8's wasm events up to the page's own mark, the number
// is the same in every run of the same build, where the time is not.
function lazyCompiles(events) {
  const mark = events.find((e) => e.name === "booket-first-slot");
  if (!mark) throw new Error("browser: the traced visit has no booket-first-slot mark");
  const compiles = events.filter(
    (e) => e.name === "wasm.CompileLazy" && e.pid === mark.pid && e.tid === mark.tid && e.ts < mark.ts,
  );
  return compiles.length;
}

const browser = await chromium.launch({
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
const times = {};
const note = (key, ms) => (times[key] ??= []).push(ms);
for (let run = 0; run < RUNS; run++) {
  for (const [profileName, profile] of Object.entries(profiles)) {
    // Rotate which build goes first, so drift in the machine's load falls on all alike.
    const builds = Object.keys(urls);
    const order = builds.map((_, i) => builds[(i + run) % builds.length]);
    for (const build of order) {
      const url = urls[build];
      const context = await browser.newContext();
      note(`${profileName} ${build} first`, (await visit(context, url, profile)).ms);
      note(`${profileName} ${build} second`, (await visit(context, url, profile)).ms);
      await context.close();
    }
  }
}
// Counted, not timed: one more first visit of this build on the phone profile, traced.
const counted = await (async () => {
  const context = await browser.newContext();
  const { compiles } = await visit(context, urls.current, profiles.phone, true);
  await context.close();
  return compiles;
})();
await browser.close();

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const row = (profileName, visitName) => {
  const cur = times[`${profileName} current ${visitName}`];
  const prev = times[`${profileName} previous ${visitName}`];
  const floor = times[`${profileName} floor ${visitName}`];
  const c = median(cur);
  const p = median(prev);
  const range = (xs) => `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`;
  return `| ${profileName} | ${visitName} visit | ${Math.round(c)} ms (${range(cur)}) | ${Math.round(p)} ms (${range(prev)}) | ${(c / p).toFixed(2)} | ${Math.round(median(floor))} ms (${range(floor)}) |`;
};
console.log(`# Browser benchmark (bench/browser.sh)\n`);
console.log(`Commit ${commit}, ${RUNS} runs per row, Debian Chromium, medians (range). Time from`);
console.log(`navigation start to the first time button in the document. The floor is the same`);
console.log(`page with a script that only parses the first week's answer and puts one button in.\n`);
console.log(`| profile | visit | this build | previous loader | ratio | floor |`);
console.log(`|---|---|---|---|---|---|`);
for (const p of Object.keys(profiles)) for (const v of ["first", "second"]) console.log(row(p, v));
console.log(
  `\nwasm functions this build compiled on the page's main thread before its first slot ` +
    `(counted in one traced first visit on the phone profile): ${counted}.`,
);
