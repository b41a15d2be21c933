// Finishes the widget that `trunk build` left in dist/ (scripts/build.sh runs it):
//
// 1. Drops the wasm-bindgen classes that nothing can reach. Leptos always links server_fn's
//    browser client, and with it wasm-streams' exported classes (IntoUnderlyingSource, …),
//    although the widget never streams: no Rust code hands such an object to JavaScript
//    (no `Class.__wrap`), and the loader imports nothing but `init`. Their JS and their wasm
//    exports go; `wasm-metadce` then removes the wasm code only they reached.
// 2. Optimises the wasm once (wasm-opt, Trunk's own pass is off) and minifies the glue
//    and the loader (terser).
// 3. Names the wasm, the glue and the stylesheet after their content (`app-<hash>.wasm`, …),
//    so the server may let browsers keep them for a year, and writes those names into the
//    loader (`booket.js`, which is kept only briefly). The files of the build before stay
//    beside them, so a page that still has the previous loader finds what it names.
//
// Every step checks its own result: a glue that still calls a removed export, or a loader
// without the line that names the files, fails the build instead of a citizen's page.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { minify } from "terser";

const [dist, previous] = process.argv.slice(2);
if (!dist) {
  console.error("usage: finish-widget.mjs DIST [PREVIOUS_FILES_DIR]");
  process.exit(2);
}
const fail = (msg) => {
  console.error(`finish-widget: ${msg}`);
  process.exit(1);
};
const bin = new URL("./node_modules/.bin/", import.meta.url).pathname;
// The wasm features Rust's wasm32-unknown-unknown target emits (binaryen must accept them).
const features = [
  "--enable-bulk-memory",
  "--enable-sign-ext",
  "--enable-mutable-globals",
  "--enable-nontrapping-float-to-int",
  "--enable-multivalue",
  "--enable-reference-types",
];

// --- 1. dead classes out of the glue ---
let glue = readFileSync(join(dist, "app.js"), "utf8");
const classes = [...glue.matchAll(/^export class (\w+) \{$/gm)].map((m) => m[1]);
const dead = classes.filter((name) => !glue.includes(`${name}.__wrap(`));
const deadExports = new Set();
for (const name of dead) {
  const start = glue.indexOf(`export class ${name} {\n`);
  const end = glue.indexOf("\n}\n", start);
  if (start < 0 || end < 0) fail(`cannot find the end of class ${name}`);
  const block = glue.slice(start, end + 3);
  for (const m of block.matchAll(/\bwasm\.(\w+)/g)) deadExports.add(m[1]);
  glue = glue.slice(0, start) + glue.slice(end + 3);
  // Its finalizer registry and its Symbol.dispose alias (one statement each).
  glue = glue.replace(new RegExp(`^const ${name}Finalization = [^;]*;\\n`, "m"), "");
  glue = glue.replace(new RegExp(`^if \\(Symbol\\.dispose\\) ${name}\\.prototype.*\\n`, "m"), "");
  if (new RegExp(`\\b${name}\\b`).test(glue)) fail(`${name} is still referenced after removal`);
}
const stillUsed = new Set([...glue.matchAll(/\bwasm\.(\w+)/g)].map((m) => m[1]));
for (const e of stillUsed) deadExports.delete(e);

// --- wasm: keep every export but the dead ones, then optimise ---
const rawWasm = join(dist, "app_bg.wasm");
const exportsOf = (file) =>
  WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(file))).map((e) => e.name);
const graph = exportsOf(rawWasm).map((name) =>
  deadExports.has(name) ? { name, export: name } : { name, export: name, root: true },
);
const graphFile = join(dist, "metadce-graph.json");
writeFileSync(graphFile, JSON.stringify(graph));
const pruned = join(dist, "app_pruned.wasm");
execFileSync(join(bin, "wasm-metadce"), [...features, rawWasm, "--graph-file", graphFile, "-o", pruned], {
  stdio: ["ignore", "ignore", "inherit"],
});
rmSync(graphFile);
// The passes that gave the fewest bytes *after brotli* (docs/contributors/benchmarks.md):
// whole-program type flow (gufa), control flow rebuilt (flatten, rereloop), then -Os until
// nothing changes; -Oz makes a smaller raw file that compresses worse. Functions of up to 8
// expressions are inlined wherever they are called (the limit holds for every inlining in
// the list), and inlining and -Os run once more after the first -Os: a browser compiles each
// wasm function on the main thread the first time it runs, at about the same cost whatever
// its size, and this leaves 68 fewer of them to compile before the first slot (620 -> 552,
// counted by bench/browser.sh) and 221 fewer bytes. The two assumptions hold for Rust's wasm: its
// stack is placed first and grows down, so the lowest kilobyte is never used, and fresh
// wasm memory is zeroed.
const passes = [
  "--gufa",
  "--flatten",
  "--rereloop",
  "-Os",
  "--always-inline-max-function-size=8",
  "--inlining-optimizing",
  "-Os",
  "--converge",
];
const wasmOut = join(dist, "app_opt.wasm");
execFileSync(
  join(bin, "wasm-opt"),
  [...features, "--low-memory-unused", "--zero-filled-memory", ...passes, pruned, "-o", wasmOut],
  { stdio: "inherit" },
);
rmSync(pruned);
const finalExports = new Set(exportsOf(wasmOut));
for (const e of stillUsed) {
  if (!finalExports.has(e)) fail(`the glue calls wasm.${e}, which the optimised wasm lacks`);
}

// --- 2. minify glue and loader ---
const terse = async (code) => {
  const out = await minify(code, { module: true, compress: true, mangle: true });
  if (!out.code) fail("terser returned nothing");
  return out.code;
};
const glueMin = await terse(glue);

// --- 3. content-hashed names ---
const hashed = (base, ext, bytes) =>
  `${base}-${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}.${ext}`;
const wasmBytes = readFileSync(wasmOut);
const css = readFileSync(join(dist, "booket.css"));
const files = {
  wasm: hashed("app", "wasm", wasmBytes),
  js: hashed("app", "js", glueMin),
  css: hashed("booket", "css", css),
};
renameSync(wasmOut, join(dist, files.wasm));
writeFileSync(join(dist, files.js), glueMin);
writeFileSync(join(dist, files.css), css);
rmSync(rawWasm);
rmSync(join(dist, "app.js"));
// Trunk's page names the files by their old names; nothing serves it, so it goes too.
rmSync(join(dist, "index.html"), { force: true });

const loaderSrc = readFileSync(join(dist, "booket.js"), "utf8");
const marker = /^const FILES = \{[^}]*\};$/m;
if (!marker.test(loaderSrc)) fail("public/booket.js has no `const FILES = {…};` line to fill in");
const loader = await terse(loaderSrc.replace(marker, `const FILES = ${JSON.stringify(files)};`));
writeFileSync(join(dist, "booket.js"), loader);

// The previous build's hashed files (see scripts/build.sh), for loaders still cached.
const current = new Set(Object.values(files));
if (previous && existsSync(previous)) {
  for (const f of readdirSync(previous)) {
    if (!current.has(f) && /^(app|booket)-[0-9a-f]{16}\.(wasm|js|css)$/.test(f)) {
      renameSync(join(previous, f), join(dist, f));
    }
  }
}
// What this build is made of, for scripts/size.sh and the tests.
writeFileSync(join(dist, "files.json"), JSON.stringify({ ...files, loader: "booket.js" }, null, 1) + "\n");
console.log(`finish-widget: ${files.wasm}, ${files.js}, ${files.css}; dropped ${dead.join(", ") || "nothing"}`);
