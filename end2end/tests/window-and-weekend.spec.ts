import { test, expect } from '@playwright/test';
import { Booket } from './fixtures/booket';

test('without show_weekend only Monday–Friday appear, inside 08–16', async ({ page }) => {
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  await expect(booket.root.locator('.booket-day')).toHaveCount(5);
  const starts = await booket.slots().evaluateAll(els => els.map(e => e.getAttribute('data-start')!));
  expect(starts.length).toBeGreaterThan(0);
  for (const s of starts) {
    const day = new Date(s.slice(0, 10) + 'T12:00:00Z').getUTCDay();
    expect(day === 0 || day === 6).toBe(false);
    expect(s.slice(11, 16) >= '08:00' && s.slice(11, 16) <= '15:30').toBe(true);
  }
  await expect(booket.root.locator('.booket-hour').first()).toHaveText('08:00');
});

test('with show_weekend Saturday and Sunday columns appear, inside 07–17', async ({ page }) => {
  await page.goto('/forms/weekend');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  await expect(booket.root.locator('.booket-day')).toHaveCount(7);
  await expect(booket.root.locator('.booket-day-heading').nth(5)).toContainText('Lør');
  // The seeded Saturday 10:00 slot and the 07:00 slots are offered here.
  await expect(booket.root.locator('.booket-day').nth(5).locator('[data-start$="T10:00"]')).toHaveCount(1);
  await expect(booket.root.locator('[data-start$="T07:00"]').first()).toBeVisible();
  await expect(booket.root.locator('.booket-hour').first()).toHaveText('07:00');
});
