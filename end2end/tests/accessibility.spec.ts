import { test, expect } from '@playwright/test';
import { Booket, fillCitizen, widgetViolations } from './fixtures/booket';

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
