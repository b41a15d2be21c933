import { test, expect } from '@playwright/test';
import { Booket, simBase } from './fixtures/booket';

test.afterEach(async ({ request }) => {
  await request.post(`${simBase}/_sim/faults`, { data: {} });
});

test('a calendar outage shows an error with a retry that recovers', async ({ page, request }) => {
  await page.goto('/forms/valgfri');
  const booket = new Booket(page);
  const next = booket.root.getByTestId('booket-next');
  // Go three weeks ahead; the fourth is a week no other test reads, so it is not cached.
  for (let i = 0; i < 3; i++) {
    await next.click();
    await expect(booket.slots().first()).toBeVisible();
  }
  // The calendar view fails until the outage ends. (A count of failed requests, as before,
  // could be used up by the server's background sweep instead of this read.)
  const res = await request.post(`${simBase}/_sim/faults`, { data: { calendar_view_status: 500 } });
  expect(res.status()).toBe(204);
  await next.click();
  const error = booket.root.getByTestId('booket-load-error');
  await expect(error).toContainText('De ledige tider kunne ikke hentes.');
  await expect(error).toContainText('Kalenderen svarer ikke lige nu');
  // The outage ends; the citizen tries again.
  await request.post(`${simBase}/_sim/faults`, { data: {} });
  await error.getByRole('button', { name: 'Prøv igen' }).click();
  // The simulated calendar has slots for four weeks: this fifth one loads empty.
  await expect(booket.root.getByTestId('booket-empty')).toContainText('Der er ingen ledige tider i denne uge.');
});
