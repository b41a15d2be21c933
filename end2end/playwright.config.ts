import { defineConfig } from '@playwright/test';

// Debian's Chromium (no Playwright browser download on these machines).
const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

const port = Number(process.env.BOOKET_E2E_PORT ?? 3900);
export const simPort = Number(process.env.BOOKET_E2E_SIM_PORT ?? 3901);
const bin = process.env.BOOKET_BIN ?? '../target/debug/booket';
// The demo runs on a pinned clock from a Monday morning (it then moves on in real time), so
// every run sees the same week, whatever day it is.
export const demoClockStart = '2026-11-30T08:00:00+01:00';
const assets = process.env.BOOKET_ASSETS ?? '../dist';

export default defineConfig({
  testDir: './tests',
  workers: 1,
  retries: 0,
  reporter: 'list',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    headless: true,
    launchOptions: { executablePath: '/usr/bin/chromium', args: chromiumArgs },
  },
  webServer: [
    {
      // A 30 s hold lets the hold tests see the warning quickly; the host page on :3902 may embed.
      command: `${bin} demo --listen 127.0.0.1:${port} --sim-listen 127.0.0.1:${simPort} --assets ${assets} --hold-seconds 30 --allow-origin http://127.0.0.1:3902 --clock-start ${demoClockStart}`,
      url: `http://127.0.0.1:${port}/`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: 'pipe',
    },
    // Host pages on other origins: one allowed, one not.
    {
      command: 'python3 -m http.server 3902 --bind 127.0.0.1 --directory hosts',
      url: 'http://127.0.0.1:3902/host.html',
      reuseExistingServer: false,
      timeout: 30_000,
    },
    {
      command: 'python3 -m http.server 3903 --bind 127.0.0.1 --directory hosts',
      url: 'http://127.0.0.1:3903/host.html',
      reuseExistingServer: false,
      timeout: 30_000,
    },
  ],
});
