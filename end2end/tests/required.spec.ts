import { test, expect } from '@playwright/test';
import { Booket, fillCitizen } from './fixtures/booket';

test('a required booking blocks submission, says why and moves focus to the element', async ({ page }) => {
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  await fillCitizen(page);
  await page.getByTestId('demo-submit').click();
  await expect(booket.error).toHaveText('Vælg en tid, før du sender.');
  await expect(booket.grid).toBeFocused();
  await expect(booket.grid).toHaveAttribute('aria-describedby', /error/);
  expect(new URL(page.url()).pathname).toBe('/');
  await expect(page.locator('#name')).toHaveValue('Jens Ærø Åberg');
});

test('an optional booking lets the form go without a time', async ({ page }) => {
  await page.goto('/forms/valgfri');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  await fillCitizen(page);
  await page.getByTestId('demo-submit').click();
  await page.waitForURL('**/receipt');
  await expect(page.locator('td[data-field="tid"]')).toHaveText('');
});
