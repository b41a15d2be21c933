import { test, expect } from '@playwright/test';
import { Booket } from './fixtures/booket';

test('under 600 px the grid becomes a list of days', async ({ page }) => {
  await page.setViewportSize({ width: 375, height: 800 });
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  await expect(booket.root.locator('.booket-hours')).toBeHidden();
  await expect(booket.root.locator('.booket-day-long').first()).toBeVisible();
  // Days stack: the second day starts below the first.
  const boxes = await booket.root.locator('.booket-day').evaluateAll(els => els.map(e => e.getBoundingClientRect().top));
  expect(boxes[1]).toBeGreaterThan(boxes[0]);
  // No horizontal scrolling of the page.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
});

test('the widget follows an English host page', async ({ page }) => {
  await page.goto('/?lang=en');
  const booket = new Booket(page);
  await expect(booket.weekLabel).toHaveText(/^Week \d+ · /);
  await expect(booket.root.getByTestId('booket-next')).toContainText('Next week');
  await booket.showWeekWithFreeSlot();
  const name = await booket.slots('free').first().getAttribute('aria-label');
  expect(name).toMatch(/^(Monday|Tuesday|Wednesday|Thursday|Friday) \d+ \w+ \d{4}, \d\d:\d\d–\d\d:\d\d, available$/);
});
