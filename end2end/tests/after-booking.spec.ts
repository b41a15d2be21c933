import { test, expect, type Page, type APIRequestContext } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { Booket, simEvent, eventIdOf, tabToFreeSlot, staffSetSubject } from './fixtures/booket';

/** axe-core on the whole page; returns the violations. */
async function pageViolations(page: Page) {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations.map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`);
}

/** Presses Tab until the focused element's text is `text` (at most 30 times). */
async function tabTo(page: Page, text: string) {
  for (let i = 0; i < 30; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement?.textContent?.trim() ?? '');
    if (focused === text) return;
  }
  throw new Error(`no focusable "${text}"`);
}

/** Books a free time in the demo form by keyboard as `name`, then opens the link in the
 *  confirmation mail from the simulator view's outbox by keyboard. Returns the booked
 *  event's id and the link. */
async function bookAndOpenLink(page: Page, request: APIRequestContext, name: string, email: string) {
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  expect(await tabToFreeSlot(page, name, email)).toBe('free');
  await page.keyboard.press('Space');
  await page.locator('#name').focus();
  await page.keyboard.press('Enter');
  await page.waitForURL('**/receipt');
  const booked = JSON.parse(await page.getByTestId('receipt-json').innerText());
  const eventId = eventIdOf(booked.slot_id);
  expect((await simEvent(request, eventId)).subject).toMatch(/ - Booket$/);

  // The simulator view shows the confirmation as the citizen reads it, link and all.
  await page.goto('/simulator');
  const mail = page.getByTestId('outbox').locator('li', { hasText: email });
  await expect(mail).toHaveCount(1);
  const link = mail.getByTestId('mail-link');
  const href = (await link.getAttribute('href'))!;
  expect(href).toMatch(/\/booking\/[\w-]+\.[\w-]+\.[\w-]+$/);
  await link.focus();
  await page.keyboard.press('Enter');
  await page.waitForURL('**/booking/**');
  return { eventId, href };
}

test('a citizen opens the link in the confirmation mail and cancels by keyboard', async ({ page, request }) => {
  const { eventId, href } = await bookAndOpenLink(page, request, 'Carl Aflys', 'carl.aflys@example.dk');

  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Din booking');
  await expect(page.getByTestId('booking-when')).toContainText(/\d\d:\d\d–\d\d:\d\d/);
  expect(await pageViolations(page), 'the booking').toEqual([]);

  // Cancelling asks first; "no" keeps the time.
  await tabTo(page, 'Aflys tiden');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 2 })).toHaveText('Vil du aflyse tiden?');
  expect(await pageViolations(page), 'the question').toEqual([]);
  await tabTo(page, 'Nej, behold tiden');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\?lang=da$/);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Din booking');
  expect((await simEvent(request, eventId)).subject).toMatch(/ - Booket$/);

  await tabTo(page, 'Aflys tiden');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 2 })).toHaveText('Vil du aflyse tiden?');
  await tabTo(page, 'Ja, aflys tiden');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Tiden er aflyst');
  await expect(page.getByRole('status')).toContainText('givet fri');
  expect(await pageViolations(page), 'cancelled').toEqual([]);
  const event = await simEvent(request, eventId);
  expect(event.subject).not.toMatch(/ - (Booket|Reserveret)$/);
  expect(event.attachments).toEqual([]);

  // The link again, in English: the time is no longer booked.
  await page.goto(`${href}?lang=en`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('The time is no longer booked');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  expect(await pageViolations(page), 'used link').toEqual([]);

  // Staff see the slot free again and the citizen's cancellation mail.
  await page.goto('/simulator');
  await expect(page.locator(`tr[data-event-id="${eventId}"]`)).toHaveAttribute('data-state', 'ledig');
  await expect(page.getByTestId('outbox').locator('li', { hasText: 'carl.aflys@example.dk' })).toHaveCount(2);
  await expect(page.getByTestId('outbox')).toContainText('Aflyst:');
});

/** Presses Tab until a radio button has focus; Space chooses it. Returns its value. */
async function tabToRadioAndChoose(page: Page): Promise<string> {
  for (let i = 0; i < 30; i++) {
    await page.keyboard.press('Tab');
    const type = await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.type ?? '');
    if (type === 'radio') {
      await page.keyboard.press('Space');
      return page.evaluate(() => (document.activeElement as HTMLInputElement).value);
    }
  }
  throw new Error('no radio button');
}

test('a citizen moves the time by keyboard from the mail, then cancels it', async ({ page, request }) => {
  const { eventId: oldId } = await bookAndOpenLink(page, request, 'Mona Flyt', 'mona.flyt@example.dk');
  const oldWhen = await page.getByTestId('booking-when').innerText();

  // The element's week, its free times as radio buttons.
  await tabTo(page, 'Flyt tiden');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Flyt tiden');
  await expect(page.getByRole('heading', { level: 2 })).toHaveText('Vælg en ny tid');
  expect(await pageViolations(page), 'the week to move within').toEqual([]);

  // Someone else takes the chosen time first: the citizen keeps theirs and is told so.
  const first = await tabToRadioAndChoose(page);
  const firstId = eventIdOf(first);
  expect(firstId).not.toBe(oldId);
  await staffSetSubject(request, firstId, `${(await simEvent(request, firstId)).subject} - Booket`);
  await tabTo(page, 'Flyt til den valgte tid');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Tiden blev taget');
  await expect(page.getByRole('status')).toContainText('Din tid er uændret');
  expect(await pageViolations(page), 'taken').toEqual([]);
  expect((await simEvent(request, oldId)).subject).toMatch(/ - Booket$/);

  // Another time: moved.
  await tabTo(page, 'Vælg en anden tid');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 2 })).toHaveText('Vælg en ny tid');
  const chosen = await tabToRadioAndChoose(page);
  const newId = eventIdOf(chosen);
  expect([oldId, firstId]).not.toContain(newId);
  await tabTo(page, 'Flyt til den valgte tid');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Tiden er flyttet');
  await expect(page.getByTestId('booking-when')).not.toHaveText(oldWhen);
  expect(await pageViolations(page), 'moved').toEqual([]);
  expect((await simEvent(request, newId)).subject).toMatch(/ - Booket$/);
  expect((await simEvent(request, oldId)).subject).not.toMatch(/ - (Booket|Reserveret)$/);

  // The new time's own page, then cancel it.
  await tabTo(page, 'Se din nye tid');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Din booking');
  await tabTo(page, 'Aflys tiden');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 2 })).toHaveText('Vil du aflyse tiden?');
  await tabTo(page, 'Ja, aflys tiden');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Tiden er aflyst');
  expect((await simEvent(request, newId)).subject).not.toMatch(/ - (Booket|Reserveret)$/);

  // Staff see both times free, and the citizen's three mails.
  await page.goto('/simulator');
  for (const id of [oldId, newId]) {
    await expect(page.locator(`tr[data-event-id="${id}"]`)).toHaveAttribute('data-state', 'ledig');
  }
  const mails = page.getByTestId('outbox').locator('li', { hasText: 'mona.flyt@example.dk' });
  await expect(mails).toHaveCount(3);
  await expect(mails.filter({ hasText: 'Ny tid:' })).toHaveCount(1);
});

test('a link that is not genuine says so plainly', async ({ page }) => {
  const res = await page.goto('/booking/not-a-real-link');
  expect(res?.status()).toBe(404);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Linket virker ikke');
  expect(await pageViolations(page), 'invalid link').toEqual([]);
});
