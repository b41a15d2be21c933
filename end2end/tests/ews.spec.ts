import { test, expect } from '@playwright/test';
import { Booket, eventIdOf, tabToFreeSlot, widgetViolations } from './fixtures/booket';

// The demo's "Jobcenter" calendar lives in Exchange Server, reached through EWS.
test('a citizen books on the EWS calendar with the keyboard, and staff see " - Booket"', async ({ page }) => {
  await page.goto('/forms/jobcenter');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  expect(await widgetViolations(page), 'the EWS calendar listed').toEqual([]);
  expect(await tabToFreeSlot(page, 'Ella Exchange', 'ella@example.dk')).toBe('free');
  await page.keyboard.press('Space');
  await expect(page.locator(':focus')).toHaveAttribute('aria-pressed', 'true');
  await expect(booket.status).toContainText('reserveret til dig');
  expect(await widgetViolations(page), 'held on EWS').toEqual([]);
  const chosen = await booket.chosenReceipt();
  expect(chosen.calendar).toBe('Jobcenter');

  await page.locator('#name').focus();
  await page.keyboard.press('Enter');
  await page.waitForURL('**/receipt');
  const booked = JSON.parse(await page.getByTestId('receipt-json').innerText());
  expect(booked.slot_id).toBe(chosen.slot_id);
  expect(booked.state).toBe('booked');

  await page.goto('/simulator');
  const row = page.locator(`table[data-calendar="Jobcenter"] tr[data-event-id="${eventIdOf(booked.slot_id)}"]`);
  await expect(row.locator('td.subject')).toHaveText(/ - Booket$/);
});
