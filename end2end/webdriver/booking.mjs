// The booking path in another browser engine, through W3C WebDriver (scripts/webdriver.sh
// starts the drivers, a display and a demo server):
//   node end2end/webdriver/booking.mjs ENGINE DRIVER_URL BOOKET_URL SIM_URL
// ENGINE is `webkit` (WebKitGTK's MiniBrowser through WebKitWebDriver) or `firefox`
// (Firefox ESR through geckodriver). A citizen opens the demo form, fills in name and e-mail,
// tabs to a free time and picks it with Space, submits with Enter and gets the receipt; the
// simulated calendar must then show the event booked. The WebDriver protocol is spoken
// directly with fetch: a handful of commands, no client library.
import assert from "node:assert/strict";

const [engine, driverUrl, booketUrl, simUrl] = process.argv.slice(2);
const capabilities = {
  webkit: {
    "webkitgtk:browserOptions": {
      binary: "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser",
      args: ["--automation"],
    },
  },
  firefox: {
    browserName: "firefox",
    "moz:firefoxOptions": {
      binary: "/usr/bin/firefox-esr",
      args: ["-headless"],
      // The machine has no internet: no update, telemetry or remote-settings calls.
      prefs: {
        "app.update.enabled": false,
        "datareporting.policy.dataSubmissionEnabled": false,
        "services.settings.server": "http://127.0.0.1:9/",
        "network.captive-portal-service.enabled": false,
      },
    },
  },
}[engine];
if (!capabilities) {
  console.error("usage: booking.mjs webkit|firefox DRIVER_URL BOOKET_URL SIM_URL");
  process.exit(2);
}

async function command(method, path, body) {
  const res = await fetch(`${driverUrl}${path}`, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json.value)}`);
  return json.value;
}

const { sessionId } = await command("POST", "/session", { capabilities: { alwaysMatch: capabilities } });
const s = (path) => `/session/${sessionId}${path}`;
const run = (script, ...args) => command("POST", s("/execute/sync"), { script, args });
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf"; // the W3C element reference key
const find = async (css) => (await command("POST", s("/element"), { using: "css selector", value: css }))[ELEMENT];
const keys = (...values) =>
  command("POST", s("/actions"), {
    actions: [
      {
        type: "key",
        id: "keyboard",
        actions: values.flatMap((v) => [...v].flatMap((k) => [{ type: "keyDown", value: k }, { type: "keyUp", value: k }])),
      },
    ],
  });
const TAB = "\uE004";
const ENTER = "\uE007";
const SPACE = "\uE00D";
async function until(what, check, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`${engine}: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

try {
  await command("POST", s("/url"), { url: `${booketUrl}/` });
  await until("the week", () => run(`return !!document.querySelector('[data-testid="booket-slot"], [data-testid="booket-empty"]')`));
  const free = `[data-testid="booket-widget"] [data-testid="booket-slot"][data-state="free"]`;
  if (!(await run(`return !!document.querySelector(arguments[0])`, free))) {
    await command("POST", s(`/element/${await find('[data-testid="booket-next-free"]')}/click`), {});
    await until("a free time", () => run(`return !!document.querySelector(arguments[0])`, free));
  }

  // By keyboard: name, Tab, e-mail, then Tab until a free time has focus; Space picks it.
  await command("POST", s(`/element/${await find("#name")}/click`), {});
  await keys("Wilma Web", TAB, "wilma@example.dk");
  let state = "";
  for (let i = 0; i < 200 && state !== "free"; i++) {
    await keys(TAB);
    state = await run(`return document.activeElement && document.activeElement.getAttribute('data-state') || ''`);
  }
  assert.equal(state, "free", `${engine}: Tab never reached a free time`);
  const label = await run(`return document.activeElement.getAttribute('aria-label')`);
  assert.match(label, /, ledig$/, `${engine}: the focused time's label`);
  await keys(SPACE);
  await until("the hold", () =>
    run(`return document.activeElement.getAttribute('aria-pressed') === 'true'
      && /reserveret til dig/.test(document.querySelector('[data-testid="booket-status"]').textContent)`),
  );

  // Back to the name field; Enter submits the form, which books first.
  await command("POST", s(`/element/${await find("#name")}/click`), {});
  await keys(ENTER);
  await until("the receipt page", async () => (await command("GET", s("/url"))).endsWith("/receipt"));
  const receipt = JSON.parse(await run(`return document.querySelector('[data-testid="receipt-json"]').textContent`));
  assert.equal(receipt.state, "booked", `${engine}: the receipt`);
  const eventId = Buffer.from(receipt.slot_id.split(".")[0], "base64url").toString("utf8");
  const sim = await (await fetch(`${simUrl}/_sim/state`)).json();
  const events = sim.tenants.flatMap((t) => t.users.flatMap((u) => u.calendars.flatMap((c) => c.events)));
  const event = events.find((e) => e.id === eventId);
  assert.ok(event, `${engine}: the booked event ${eventId} is in the calendar`);
  assert.match(event.subject, / - Booket$/, `${engine}: the event's subject`);
  console.log(`webdriver ${engine}: booked "${label}" by keyboard; the calendar says "${event.subject}"`);
} finally {
  await command("DELETE", s("")).catch(() => {});
}
