import { test, expect } from '@playwright/test';
import { Booket, simBase, widgetViolations } from './fixtures/booket';

test.afterEach(async ({ request }) => {
  await request.post(`${simBase}/_sim/faults`, { data: {} });
});

test('a reservation waiting in line says so, and holds when its turn comes', async ({ page, request }) => {
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  // Exchange does not answer the write yet, as when bookings open and the line is long.
  const res = await request.post(`${simBase}/_sim/faults`, { data: { stall_after_writes: 0 } });
  expect(res.status()).toBe(204);
  await booket.slots('free').first().click();
  const line = 'Mange booker lige nu – din forespørgsel er i kø.';
  await expect(booket.status).toHaveText(line);
  await expect(booket.root.getByTestId('booket-chosen')).toHaveText(line);
  await expect(booket.root).toHaveAttribute('aria-busy', 'true');
  expect(await widgetViolations(page)).toEqual([]);
  // Its turn comes: the write is carried out and the time is held.
  await request.post(`${simBase}/_sim/faults`, { data: { stall_resumes: true } });
  await expect(booket.status).toContainText('Tiden er reserveret til dig til kl.');
  await expect(booket.root.getByTestId('booket-chosen')).toContainText('reserveret til dig til kl.');
  await expect(booket.root).toHaveAttribute('aria-busy', 'false');
});
