// Prints Playwright's JSON report as one closing line: "playwright: N passed, N failed".
import { readFileSync } from 'node:fs';
const file = process.argv[2] ?? 'results.json';
let stats;
try {
  stats = JSON.parse(readFileSync(file, 'utf8')).stats;
} catch (e) {
  console.log(`playwright: 0 passed, 1 failed (no report: ${e.message})`);
  process.exit(1);
}
const failed = (stats.unexpected ?? 0) + (stats.flaky ?? 0);
console.log(`playwright: ${stats.expected ?? 0} passed, ${failed} failed${stats.skipped ? `, ${stats.skipped} skipped` : ''}`);
