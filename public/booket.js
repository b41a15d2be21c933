// Booket embed loader. A host page needs only
//   <script type="module" src="https://BOOKET-SERVER/booket/booket.js"></script>
// and placeholders <div data-booket-form="FORM" data-booket-element="ELEMENT"></div>.
// It starts at once, side by side, everything the first slots need: the stylesheet (unless
// the page already links it), the wasm glue, the wasm (compiled as it streams in) and the
// first `element` and `week` answers of every placeholder on the page, which the widget
// takes instead of asking again (app/src/booking/client.rs). The widget starts once the
// first placeholder's two answers are read, or at the latest 300 ms after its own code is
// ready: started with them, it renders that element's week in the task that mounts it,
// laid out once, instead of a loading placeholder that the week replaces a layout later.
// The build (tools/
// finish-widget.mjs) fills in the files' content-hashed names below; they can be cached for
// a year, this loader only briefly.
const FILES = { js: "app.js", wasm: "app_bg.wasm", css: "booket.css" };
const base = new URL("./", import.meta.url);
const at = (file) => new URL(file, base).href;
globalThis.booketServer = base.origin;
const wasm = fetch(at(FILES.wasm));
// Compiled as it streams in. Where it cannot be — the server sent it without the wasm type
// (refused before a byte is read), or the browser has no `compileStreaming` (Safari before
// 15) — `init` takes the answer itself, on its slower path.
const compiled = WebAssembly.compileStreaming?.(wasm).catch(() => wasm) ?? wasm;
const glue = import(at(FILES.js));
if (!document.querySelector("link[data-booket-css]")) {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = at(FILES.css);
  link.dataset.booketCss = "";
  document.head.prepend(link);
}
// Keyed like the widget's own calls: endpoint, then the form-encoded arguments in the
// contract's order (app/src/contract.rs). Asked with GET, as a page's preload hints ask
// (server/src/web/hints.rs), so the browser hands over an answer it already has.
const early = (globalThis.booketEarly = new Map());
const ask = (endpoint, args) => {
  const query = new URLSearchParams(args).toString();
  const key = `${endpoint}?${query}`;
  if (!early.has(key)) {
    // Read to the end here, so a widget that starts after the answer came in renders it
    // in the task that mounts it, with no layout of a placeholder in between. The widget
    // reads only `status` and `text()` of what it takes (app/src/booking/client.rs).
    const answer = fetch(`${base.origin}/api/${key}`, { headers: { Accept: "application/json" } }).then(
      (r) => r.text().then((text) => ({ status: r.status, text: () => Promise.resolve(text) })),
    );
    answer.catch(() => {}); // a failure is the widget's to tell, when it takes the answer
    early.set(key, answer);
  }
  return early.get(key);
};
let first;
for (const el of document.querySelectorAll("[data-booket-form][data-booket-element]")) {
  const { booketForm: form, booketElement: element } = el.dataset;
  const answers = [ask("element", { form, element }), ask("week", { form, element, week: "", hold: "" })];
  first ??= Promise.all(answers).catch(() => {});
}
const { default: init, mount } = await glue;
const module = await compiled;
if (first) await Promise.race([first, new Promise((ready) => setTimeout(ready, 300))]);
await init({ module_or_path: module });
// Placeholders the page adds later (a step of a multi-page form, say) are mounted too.
const waiting = "[data-booket-form][data-booket-element]:not([data-booket-mounted])";
new MutationObserver(() => document.querySelector(waiting) && mount()).observe(document.body, {
  childList: true,
  subtree: true,
});
