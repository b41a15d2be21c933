// The embed loader as it was before issue 26 (commit d6ff60d): the glue, then the wasm, then
// the widget asks for its answers. bench/browser.sh serves it beside this build to compare.
// Booket embed loader. A host page needs only
//   <script type="module" src="https://BOOKET-SERVER/booket/booket.js"></script>
// and placeholders <div data-booket-form="FORM" data-booket-element="ELEMENT"></div>.
// It loads the stylesheet (unless the page already links it) and the wasm widget from the
// same place as this file, and tells the widget where its server is.
const base = new URL("./", import.meta.url);
globalThis.booketServer = base.origin;
if (!document.querySelector("link[data-booket-css]")) {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("booket.css", base).href;
  link.dataset.booketCss = "";
  document.head.prepend(link);
}
const { default: init } = await import(new URL("app.js", base).href);
await init({ module_or_path: new URL("app_bg.wasm", base) });
