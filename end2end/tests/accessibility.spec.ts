import { test, expect } from '@playwright/test';
import { Booket, eventIdOf, fillCitizen, staffSetSubject, widgetViolations } from './fixtures/booket';

// The week's calls: the widget's POSTs and the loader's first GET (with its query).
const weekCalls = /\/api\/week(\?|$)/;

test('axe-core finds no violations in the widget in every state', async ({ page }) => {
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  expect(await widgetViolations(page), 'week shown').toEqual([]);

  await booket.root.getByTestId('booket-info-toggle').click();
  expect(await widgetViolations(page), 'info open').toEqual([]);

  await fillCitizen(page);
  await page.getByTestId('demo-submit').click();
  await expect(booket.error).not.toBeEmpty();
  expect(await widgetViolations(page), 'required error').toEqual([]);

  await booket.slots('free').first().click();
  expect(await widgetViolations(page), 'selected').toEqual([]);

  await page.setViewportSize({ width: 360, height: 800 });
  expect(await widgetViolations(page), 'narrow list layout').toEqual([]);
});

test('axe-core finds no violations while loading, on a load error, an empty week and the next-free offer', async ({ page }) => {
  // Loading: the week's answer is held back until the scan is done.
  let release!: () => void;
  const held = new Promise<void>(r => (release = r));
  await page.route(weekCalls, async route => { await held; await route.continue(); });
  await page.goto('/');
  const booket = new Booket(page);
  await expect(booket.root.getByTestId('booket-loading')).toBeVisible();
  expect(await widgetViolations(page), 'loading').toEqual([]);
  release();
  await booket.showWeekWithFreeSlot();
  await page.unroute(weekCalls);

  // A load error, with its retry button.
  await page.route(weekCalls, route => route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"unavailable"}' }));
  await booket.root.getByTestId('booket-next').click();
  await expect(booket.root.getByTestId('booket-load-error')).toBeVisible();
  expect(await widgetViolations(page), 'load error').toEqual([]);
  await page.unroute(weekCalls);

  // A week without free times, with the next free week offered: every slot of a real
  // answer shown as taken.
  await page.route(weekCalls, async route => {
    const res = await route.fetch();
    const week = await res.json();
    week.slots = week.slots.map((s: any) => ({ ...s, state: 'booked' }));
    week.next_free_week = week.days[6] ?? week.days[week.days.length - 1];
    await route.fulfill({ response: res, json: week });
  });
  await booket.root.getByTestId('booket-today').click();
  await expect(booket.root.getByTestId('booket-next-free')).toBeVisible();
  expect(await widgetViolations(page), 'next free offered').toEqual([]);
  await page.unroute(weekCalls);

  // An empty week with nothing free ahead: past the simulator's four seeded weeks.
  for (let i = 0; i < 6; i++) await booket.root.getByTestId('booket-next').click();
  await expect(booket.root.getByTestId('booket-empty')).toBeVisible();
  await expect(booket.root.getByTestId('booket-next-free')).toHaveCount(0);
  expect(await widgetViolations(page), 'empty week').toEqual([]);
});

test('axe-core finds no violations when held, taken, booked and in English', async ({ page, request }) => {
  await page.goto('/?standalone=1');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();

  // Held: picking a time reserves it.
  await booket.slots('free').first().click();
  await expect(booket.status).toContainText('reserveret til dig');
  expect(await widgetViolations(page), 'held').toEqual([]);

  // Taken: someone books the held time in Outlook, the citizen books.
  const chosen = await booket.chosenReceipt();
  await staffSetSubject(request, eventIdOf(chosen.slot_id), 'Borgersamtale - Booket');
  await booket.root.getByTestId('booket-book').click();
  await expect(booket.error).toContainText('taget af en anden');
  expect(await widgetViolations(page), 'taken').toEqual([]);

  // Booked.
  await booket.slots('free').first().click();
  await expect(booket.status).toContainText('reserveret til dig');
  await booket.root.getByTestId('booket-book').click();
  await expect(booket.status).toContainText('Tiden er booket');
  expect(await widgetViolations(page), 'booked').toEqual([]);

  // English.
  await page.goto('/?lang=en');
  const english = new Booket(page);
  await english.showWeekWithFreeSlot();
  await expect(english.weekLabel).toHaveText(/^Week \d+ · /);
  expect(await widgetViolations(page), 'English').toEqual([]);
});

test('the info text is a disclosure that opens and closes by keyboard', async ({ page }) => {
  await page.goto('/');
  const booket = new Booket(page);
  const toggle = booket.root.getByTestId('booket-info-toggle');
  await expect(toggle).toHaveAccessibleName('Mere information');
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await expect(booket.root.getByTestId('booket-info')).toBeHidden();
  await toggle.focus();
  await page.keyboard.press('Enter');
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
  await expect(booket.root.getByTestId('booket-info')).toContainText('Borgerservice');
  await page.keyboard.press('Escape');
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
});

test('every slot has a name with weekday, date, time span and state', async ({ page }) => {
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  const names = await booket.slots().evaluateAll(els => els.map(e => e.getAttribute('aria-label')!));
  expect(names.length).toBeGreaterThan(0);
  for (const n of names) {
    expect(n).toMatch(/^(Mandag|Tirsdag|Onsdag|Torsdag|Fredag) \d+\. \w+ \d{4}, \d\d:\d\d–\d\d:\d\d, (ledig|optaget|optaget \(reserveret\)|kan ikke bookes endnu|tidspunktet er passeret)$/);
  }
  // Unavailable slots say so without colour: disabled for assistive tech and struck through.
  const taken = booket.slots('booked').first();
  await expect(taken).toHaveAttribute('aria-disabled', 'true');
});

test('week navigation shows the ISO week and never goes before the current week', async ({ page }) => {
  await page.goto('/');
  const booket = new Booket(page);
  await expect(booket.weekLabel).toHaveText(/^Uge \d+ · /);
  const first = await booket.weekLabel.textContent();
  const prev = booket.root.getByTestId('booket-prev');
  await expect(prev).toHaveAttribute('aria-disabled', 'true');
  // Still focusable (aria-disabled, not disabled) so its state is announced; pressing it does nothing.
  await prev.focus();
  await page.keyboard.press('Enter');
  await expect(booket.weekLabel).toHaveText(first!);
  await booket.root.getByTestId('booket-next').click();
  await expect(booket.weekLabel).not.toHaveText(first!);
  await expect(booket.status).toHaveText(/^Uge \d+ · /);
  await expect(prev).toHaveAttribute('aria-disabled', 'false');
  await booket.root.getByTestId('booket-today').click();
  await expect(booket.weekLabel).toHaveText(first!);
});
