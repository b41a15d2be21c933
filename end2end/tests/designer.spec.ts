import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { Booket } from './fixtures/booket';

test('a designer previews a configured element and a draft, with snippet and config block', async ({ page }) => {
  await page.goto('/designer');
  await page.getByTestId('designer-elements').getByRole('link', { name: /Weekend og udvidet åbningstid/ }).click();
  const preview = new Booket(page);
  await preview.showWeekWithFreeSlot();
  await expect(preview.root.locator('.booket-day')).toHaveCount(7);
  await expect(page.getByTestId('designer-snippet')).toContainText('data-booket-form="weekend" data-booket-element="tid"');
  await expect(page.getByTestId('designer-config')).toContainText('show_weekend = true');

  // Edit a draft: no weekend, a 9–12 window, a new heading.
  await page.getByLabel('Overskrift').fill('Tid til <b>vejledning</b>');
  await page.getByLabel('Vis weekend').uncheck();
  await page.getByLabel('Første time').fill('9');
  await page.getByLabel('Sidste time').fill('12');
  await page.getByTestId('designer-apply').click();
  const draft = new Booket(page);
  await expect(draft.root.locator('.booket-heading')).toHaveText('Tid til <b>vejledning</b>');
  await expect(draft.root.locator('.booket-day')).toHaveCount(5);
  await expect(draft.root.locator('.booket-hour').first()).toHaveText('09:00');
  await expect(page.getByTestId('designer-config')).toContainText('first_hour = 9');
  await expect(page.getByTestId('designer-snippet')).toContainText('data-booket-form="DIN-BLANKET" data-booket-element="tid"');
  // The attendee-update limitation is explained next to its option.
  await expect(page.locator('#help-notify_attendees')).toContainText('Graph kan ikke undertrykke');

  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations.map(v => v.id)).toEqual([]);
});

test('a draft with a bad value says which field and why, and shows no preview', async ({ page }) => {
  await page.goto('/designer');
  await page.getByLabel('Første time').fill('14');
  await page.getByLabel('Sidste time').fill('10');
  await page.getByTestId('designer-apply').click();
  await expect(page.getByTestId('designer-error')).toContainText('Sidste time: must be 1–24 and greater than first_hour (got 10)');
  await expect(page.getByLabel('Sidste time')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByTestId('designer-preview')).toHaveCount(0);
});
