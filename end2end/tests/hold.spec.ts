import { test, expect } from '@playwright/test';
import { Booket, eventIdOf, simEvent, widgetViolations } from './fixtures/booket';

// v2;<owner hash>;<expiry>;<since>;<file ids>
const HOLD = /^v2;[^;]+;(\d+);\d+;[^;]*$/;

async function holdExpiry(request: any, slotId: string): Promise<number> {
  const event = await simEvent(request, eventIdOf(slotId));
  const prop = event.properties.find((p: [string, string]) => p[0].includes('BooketHold'));
  const m = prop && HOLD.exec(prop[1]);
  if (!m) throw new Error(`no hold on ${event.id}: ${JSON.stringify(event.properties)}`);
  return Number(m[1]);
}

test('picking a time reserves it; picking another gives the first back', async ({ page, request }) => {
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  const first = booket.slots('free').nth(0);
  const firstStart = await first.getAttribute('data-start');
  await first.click();
  await expect(booket.status).toContainText('Tiden er reserveret til dig til kl.');
  await expect(booket.root.getByTestId('booket-chosen')).toContainText('reserveret til dig til kl.');
  const a = (await booket.chosenReceipt()).slot_id;
  expect((await simEvent(request, eventIdOf(a))).subject).toMatch(/ - Reserveret$/);

  await booket.root.locator(`[data-testid="booket-slot"][data-state="free"]:not([data-start="${firstStart}"])`).first().click();
  await expect.poll(async () => (await booket.receipt()).slot_id).not.toBe(a);
  const b = (await booket.receipt()).slot_id;
  expect((await simEvent(request, eventIdOf(b))).subject).toMatch(/ - Reserveret$/);
  await expect.poll(async () => (await simEvent(request, eventIdOf(a))).subject).not.toMatch(/ - Reserveret$/);

  // Picking the held time again gives it back.
  await booket.root.locator('[aria-pressed="true"]').click();
  await expect(booket.status).toContainText('tiden er givet fri');
  await expect.poll(async () => (await simEvent(request, eventIdOf(b))).subject).not.toMatch(/ - Reserveret$/);
  expect(await booket.receipt()).toBeNull();
});

test('the hold warning comes before it lapses and the citizen extends by keyboard', async ({ page, request }) => {
  // The Playwright demo holds for 30 s (see playwright.config.ts): the warning shows at 15 s
  // left. The page's clock is Playwright's, moved on instead of waited for.
  await page.clock.install();
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  await booket.slots('free').first().focus();
  await page.keyboard.press('Enter');
  await expect(booket.status).toContainText('reserveret til dig');
  const slotId = (await booket.chosenReceipt()).slot_id;
  const firstExpiry = await holdExpiry(request, slotId);

  const warning = booket.root.getByTestId('booket-hold-warning');
  await expect(warning).toBeHidden();
  await page.clock.fastForward('00:16');
  await expect(warning).toBeVisible();
  await expect(warning).toHaveAttribute('role', 'alert');
  await expect(warning).toContainText('Din reservation udløber kl.');
  expect(await widgetViolations(page), 'hold warning').toEqual([]);
  // Reach the button from the slot by keyboard.
  for (let i = 0; i < 100; i++) {
    if (await page.evaluate(() => document.activeElement?.getAttribute('data-testid')) === 'booket-extend') break;
    await page.keyboard.press('Tab');
  }
  await expect(booket.root.getByTestId('booket-extend')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(booket.status).toContainText('Reservationen er forlænget til kl.');
  await expect(warning).toBeHidden();
  await expect(booket.grid).toBeFocused();
  expect(await holdExpiry(request, slotId)).toBeGreaterThan(firstExpiry);
});

test('leaving the page gives the hold back', async ({ page, request }) => {
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  await booket.slots('free').first().click();
  await expect(booket.status).toContainText('reserveret til dig');
  const slotId = (await booket.chosenReceipt()).slot_id;
  expect((await simEvent(request, eventIdOf(slotId))).subject).toMatch(/ - Reserveret$/);
  // The citizen goes elsewhere: the page is left for good, so the time is given back.
  await page.goto('about:blank');
  await expect.poll(async () => (await simEvent(request, eventIdOf(slotId))).subject).not.toMatch(/ - /);
});
