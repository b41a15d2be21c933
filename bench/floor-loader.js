// The floor (bench/browser.sh): served as `booket.js` on the demo's own form page, in place
// of the loader, so the page, its preload hints and everything they download are this
// build's. It asks each placeholder's first week as the loader does (taking the answer the
// page's hints already started), reads and parses it, and puts one button into the
// placeholder: the earliest any script on this page could show a slot from that answer,
// with no widget to start. Never served to citizens.
const origin = new URL(import.meta.url).origin;
for (const el of document.querySelectorAll("[data-booket-form][data-booket-element]")) {
  const { booketForm: form, booketElement: element } = el.dataset;
  const query = new URLSearchParams({ form, element, week: "", hold: "" }).toString();
  fetch(`${origin}/api/week?${query}`, { headers: { Accept: "application/json" } })
    .then((answer) => answer.json())
    .then((week) => {
      const slot = document.createElement("button");
      slot.type = "button";
      slot.dataset.testid = "booket-slot";
      slot.textContent = week.slots?.[0]?.start ?? "";
      el.append(slot);
    });
}
