import { test, expect } from '@playwright/test';
import { createLocalJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { Booket, fillCitizen } from './fixtures/booket';
import { demoClockStart } from '../playwright.config';

// The form's backend verifies the receipt the hidden input carried, with an independent
// JOSE library (panva/jose) and nothing but Booket's published keys.
test('the booked receipt verifies against /.well-known/jwks.json, and an altered one does not', async ({ page, request, baseURL }) => {
  await page.goto('/');
  const booket = new Booket(page);
  await booket.showWeekWithFreeSlot();
  await fillCitizen(page);
  await booket.slots('free').first().click();
  await page.getByTestId('demo-submit').click();
  await page.waitForURL('**/receipt');
  const receipt = JSON.parse(await page.getByTestId('receipt-json').innerText());
  expect(receipt.state).toBe('booked');
  expect(typeof receipt.jws).toBe('string');

  const res = await request.get('/.well-known/jwks.json');
  expect(res.status()).toBe(200);
  const jwks = await res.json();
  expect(jwks.keys.length).toBeGreaterThan(0);
  for (const k of jwks.keys) {
    expect(k.kty).toBe('EC');
    expect(k.crv).toBe('P-256');
    expect(k.d).toBeUndefined(); // never the private part
  }
  const keys = createLocalJWKSet(jwks);

  const header = decodeProtectedHeader(receipt.jws);
  expect(header.alg).toBe('ES256');
  expect(jwks.keys.map((k: any) => k.kid)).toContain(header.kid);

  const { payload } = await jwtVerify(receipt.jws, keys, {
    // The demo's clock is pinned: its receipts are judged at its time.
    currentDate: new Date(demoClockStart),
    issuer: baseURL,
    audience: 'demo',
    algorithms: ['ES256'],
    typ: 'booket-receipt+jwt',
  });
  expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
  expect(payload.element).toBe('tid');
  expect(payload.slot).toBe(receipt.slot_id);
  expect(payload.start).toBe(receipt.start);
  expect(payload.end).toBe(receipt.end);
  expect(payload.calendar).toBe('Borgerservice');
  expect(payload.state).toBe('booked');
  expect((payload.exp as number) - (payload.iat as number)).toBe(7 * 24 * 3600);

  // Another time under the same signature: refused.
  const [h, p, s] = receipt.jws.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  claims.start = claims.start.replace(/T\d\d/, 'T06');
  const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
  await expect(jwtVerify(forged, keys, { issuer: baseURL, audience: 'demo', algorithms: ['ES256'] }))
    .rejects.toThrow(/signature verification failed/);
  // A receipt for this form is no good for another.
  await expect(jwtVerify(receipt.jws, keys, { issuer: baseURL, audience: 'weekend', algorithms: ['ES256'] }))
    .rejects.toThrow(/"aud" claim/);
});
