import { test, expect } from '@playwright/test';
import { Booket, simEvent, eventIdOf, tabToFreeSlot } from './fixtures/booket';

test('a citizen books with the keyboard only', async ({ page, request }) => {
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  // Tab onwards until a free slot has focus.
  expect(await tabToFreeSlot(page, 'Karen Keyboard', 'karen@example.dk')).toBe('free');
  const label = await page.evaluate(() => document.activeElement?.getAttribute('aria-label'));
  expect(label).toMatch(/^(Mandag|Tirsdag|Onsdag|Torsdag|Fredag) \d+\. \w+ \d{4}, \d\d:\d\d–\d\d:\d\d, ledig$/);
  await page.keyboard.press('Space');
  await expect(page.locator(':focus')).toHaveAttribute('aria-pressed', 'true');
  await expect(booket.status).toContainText('valgt');
  const chosen = await booket.chosenReceipt();

  // Back to the name field and submit the form with Enter.
  await page.locator('#name').focus();
  await page.keyboard.press('Enter');
  await page.waitForURL('**/receipt');
  const booked = JSON.parse(await page.getByTestId('receipt-json').innerText());
  expect(booked.slot_id).toBe(chosen.slot_id);
  const event = await simEvent(request, eventIdOf(booked.slot_id));
  expect(event.subject).toMatch(/ - Booket$/);
});
