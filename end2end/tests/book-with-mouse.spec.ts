import { test, expect } from '@playwright/test';
import { Booket, eventIdOf, fillCitizen, failOnPageErrors } from './fixtures/booket';

test('a citizen books with the mouse and the event shows " - Booket" in the simulator view', async ({ page }) => {
  const errors = failOnPageErrors(page);
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  await fillCitizen(page);
  const slot = booket.slots('free').nth(2);
  await slot.click();
  await expect(slot).toHaveAttribute('aria-pressed', 'true');
  await expect(booket.status).toContainText('valgt');
  const chosen = await booket.chosenReceipt();
  expect(chosen.state).toBe('selected');

  await page.getByTestId('demo-submit').click();
  await page.waitForURL('**/receipt');
  const receipt = page.getByTestId('receipt');
  await expect(receipt.locator('td[data-field="name"]')).toHaveText('Jens Ærø Åberg');
  const booked = JSON.parse(await receipt.getByTestId('receipt-json').innerText());
  expect(booked.state).toBe('booked');
  expect(booked.slot_id).toBe(chosen.slot_id);
  expect(booked.calendar).toBe('Borgerservice');
  expect(booked.start).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:00\+0[12]:00$/);

  await page.getByRole('link', { name: /simulerede Outlook-kalender/ }).click();
  const row = page.locator(`tr[data-event-id="${eventIdOf(booked.slot_id)}"]`);
  await expect(row.locator('td.subject')).toHaveText(/ - Booket$/);
  expect(errors).toEqual([]);
});
