// Time to the first time button on screen, in Debian's Chromium (run by bench/browser.sh).
//   node bench/browser.mjs RUNS CURRENT_URL PREVIOUS_URL FLOOR_URL COMMIT
// Each run opens a fresh browser context (empty cache), loads the page (first visit), then
// loads it again in the same context (second visit); how a visit is timed is in
// bench/browser-lib.mjs. One more first visit of this build, traced, counts the wasm
// functions compiled on the main thread before the first slot (see lazyCompiles): a number
// the machine's noise does not move.
import { launch, median, profiles, range, visit } from "./browser-lib.mjs";

const [runs, currentUrl, previousUrl, floorUrl, commit] = process.argv.slice(2);
const urls = { current: currentUrl, previous: previousUrl, floor: floorUrl };
const RUNS = Number(runs);

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

const browser = await launch();
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
      note(`${profileName} ${build} first`, (await visit(browser, context, url, profile)).ms);
      note(`${profileName} ${build} second`, (await visit(browser, context, url, profile)).ms);
      await context.close();
    }
  }
}
// Counted, not timed: one more first visit of this build on the phone profile, traced.
const counted = await (async () => {
  const context = await browser.newContext();
  const { trace } = await visit(browser, context, urls.current, profiles.phone, true);
  await context.close();
  return lazyCompiles(trace);
})();
await browser.close();

const row = (profileName, visitName) => {
  const cur = times[`${profileName} current ${visitName}`];
  const prev = times[`${profileName} previous ${visitName}`];
  const floor = times[`${profileName} floor ${visitName}`];
  const c = median(cur);
  const p = median(prev);
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
