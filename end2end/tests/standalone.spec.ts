import { test, expect } from '@playwright/test';
import { Booket, eventIdOf, simEvent } from './fixtures/booket';

test('outside a form the element books with its own "Book tid" button', async ({ page, request }) => {
  await page.goto('/?standalone=1');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  const button = booket.root.getByTestId('booket-book');
  await expect(button).toHaveText('Book tid');
  await expect(button).toHaveAttribute('aria-disabled', 'true');
  await booket.slots('free').first().click();
  await expect(button).toHaveAttribute('aria-disabled', 'false');
  const events: string[] = [];
  await page.exposeFunction('recordBooketEvent', (name: string) => events.push(name));
  await booket.root.evaluate(el => el.parentElement!.addEventListener('booket:booked', () => (window as any).recordBooketEvent('booked')));
  await button.click();
  await expect(booket.status).toContainText('Tiden er booket');
  const receipt = await booket.receipt();
  expect(receipt.state).toBe('booked');
  expect((await simEvent(request, eventIdOf(receipt.slot_id))).subject).toMatch(/ - Booket$/);
  await expect.poll(() => events).toEqual(['booked']);
});
