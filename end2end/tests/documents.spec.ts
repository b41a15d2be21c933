import { test, expect } from '@playwright/test';
import { Booket, eventIdOf, fillCitizen, simBase } from './fixtures/booket';

test('a citizen uploads a file and books: the event gets the file, the summary and " - Booket", and a mail goes out', async ({ page, request }) => {
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  await fillCitizen(page);
  await page.setInputFiles('#files', {
    name: 'lønseddel.pdf',
    mimeType: 'application/pdf',
    buffer: Buffer.from('%PDF-1.4\n% a small test document\n'),
  });
  await booket.slots('free').first().click();
  await expect(booket.status).toContainText('reserveret til dig');
  await page.getByTestId('demo-submit').click();
  await page.waitForURL('**/receipt');
  const receipt = JSON.parse(await page.getByTestId('receipt-json').innerText());
  expect(receipt.state).toBe('booked');
  expect(receipt.attachments).toEqual(['lønseddel.pdf', 'Resumé af blanketten.pdf']);
  expect(receipt.mail).toBe('sent');
  // The host form's own submission still carries the file too.
  await expect(page.locator('td[data-field="files"]')).toContainText('lønseddel.pdf');

  await page.goto('/simulator');
  const row = page.locator(`tr[data-event-id="${eventIdOf(receipt.slot_id)}"]`);
  await expect(row.locator('td.subject')).toHaveText(/ - Booket$/);
  await expect(row.locator('td.files')).toContainText('lønseddel.pdf');
  await expect(row.locator('td.files')).toContainText('Resumé af blanketten.pdf');
  await expect(page.getByTestId('outbox')).toContainText('jens@example.dk');

  const state = await (await request.get(`${simBase}/_sim/state`)).json();
  const mail = state.outbox.find((m: any) => m.to.includes('jens@example.dk'));
  expect(mail.attachments[0].name).toBe('booking.ics');
  expect(mail.attachments[0].text).toContain('BEGIN:VEVENT');
});

test('a refused file type is explained and nothing is booked', async ({ page }) => {
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  await fillCitizen(page);
  await page.setInputFiles('#files', { name: 'program.exe', mimeType: 'application/octet-stream', buffer: Buffer.from('MZ') });
  await booket.slots('free').first().click();
  await expect(booket.status).toContainText('reserveret til dig');
  await page.getByTestId('demo-submit').click();
  await expect(booket.error).toHaveText('Filtypen for “program.exe” kan ikke modtages. Brug fx PDF, Word eller billeder.');
  expect(new URL(page.url()).pathname).toBe('/');
  // The time is still held for the citizen; after removing the file the form goes through.
  await page.setInputFiles('#files', []);
  await page.getByTestId('demo-submit').click();
  await page.waitForURL('**/receipt');
});

test('a file whose content is not what its name says is refused with a clear message', async ({ page }) => {
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  await fillCitizen(page);
  // A Windows program renamed to look like a PDF.
  await page.setInputFiles('#files', { name: 'faktura.pdf', mimeType: 'application/pdf', buffer: Buffer.from('MZ\x90\x00\x03\x00\x00\x00\x04\x00PE\x00\x00') });
  await booket.slots('free').first().click();
  await expect(booket.status).toContainText('reserveret til dig');
  await page.getByTestId('demo-submit').click();
  await expect(booket.error).toHaveText('Indholdet af “faktura.pdf” passer ikke til filtypen. Gem filen igen i det rigtige format.');
  expect(new URL(page.url()).pathname).toBe('/');
});
