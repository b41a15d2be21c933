// One loader against another, same build otherwise (run by bench/loader-ab.sh): phone
// profile first visits, alternating which goes first, a fresh browser context each.
//   node bench/loader-ab.mjs RUNS THIS_URL BEFORE_URL BEFORE_LABEL COMMIT
import { launch, median, profiles, range, visit } from "./browser-lib.mjs";

const [runs, thisUrl, beforeUrl, beforeLabel, commit] = process.argv.slice(2);
const RUNS = Number(runs);
const browser = await launch();
const times = { this: [], before: [] };
for (let run = 0; run < RUNS; run++) {
  const order = run % 2 ? ["before", "this"] : ["this", "before"];
  for (const which of order) {
    const context = await browser.newContext();
    const url = which === "this" ? thisUrl : beforeUrl;
    times[which].push((await visit(browser, context, url, profiles.phone)).ms);
    await context.close();
  }
}
await browser.close();
// Each run's two visits came one after the other: their ratio leaves out the machine's
// drift between runs.
const paired = median(times.this.map((t, i) => t / times.before[i]));
console.log(`# Loader A/B (bench/loader-ab.sh)\n`);
console.log(`Commit ${commit} against the loader of ${beforeLabel} (same wasm, glue, stylesheet and`);
console.log(`page), ${RUNS} phone-profile first visits each, alternating, Debian Chromium. Time from`);
console.log(`navigation start to the first time button in the document, medians (range).\n`);
console.log(`| this loader | the loader of ${beforeLabel} | ratio of medians | median of paired ratios |`);
console.log(`|---|---|---|---|`);
const a = median(times.this);
const b = median(times.before);
console.log(
  `| ${Math.round(a)} ms (${range(times.this)}) | ${Math.round(b)} ms (${range(times.before)}) | ${(a / b).toFixed(3)} | ${paired.toFixed(3)} |`,
);
