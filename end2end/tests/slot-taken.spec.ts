import { test, expect } from '@playwright/test';
import { Booket, eventIdOf, fillCitizen, staffSetSubject } from './fixtures/booket';

test('a time taken between viewing and submitting gives the message and keeps the form', async ({ page, request }) => {
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  await fillCitizen(page);
  const slot = booket.slots('free').first();
  const start = await slot.getAttribute('data-start');
  await slot.click();
  await expect(booket.status).toContainText('reserveret til dig');
  const chosen = await booket.chosenReceipt();

  // Someone else books it in Outlook meanwhile.
  await staffSetSubject(request, eventIdOf(chosen.slot_id), 'Borgersamtale - Booket');

  await page.getByTestId('demo-submit').click();
  await expect(booket.error).toHaveText('Tiden blev netop taget af en anden — vælg en ny.');
  await expect(booket.status).toHaveText('Tiden blev netop taget af en anden — vælg en ny.');
  expect(new URL(page.url()).pathname).toBe('/');
  // The form keeps every value; the grid is refreshed and shows the time as taken.
  await expect(page.locator('#name')).toHaveValue('Jens Ærø Åberg');
  await expect(page.locator('#message')).toHaveValue('Jeg vil gerne tale om <b>min sag</b> & andet.');
  await expect(booket.root.locator(`[data-start="${start}"]`)).toHaveAttribute('data-state', 'booked');
  expect(await booket.receipt()).toBeNull();

  // Choosing another time and submitting at once works: the submission waits for the hold.
  await booket.slots('free').first().click();
  await page.getByTestId('demo-submit').click();
  await page.waitForURL('**/receipt');
});
