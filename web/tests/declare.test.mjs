// Two parties, two pages: alpha declares; bravo draws an intersecting
// intent, sees the conflict before sending, sends it with alpha's OVN; alpha
// sees the conflict event and acknowledges it; bravo's "sent" view shows the
// acknowledgement.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, newPage, signInDev, drawPolygon, square, shot, waitMessage } from './harness.mjs';

const ctx = serverAndBrowser();

test('declare, see the conflict before sending, send, acknowledge', async () => {
  const alpha = await newPage(ctx.browser, ctx.server.url);
  const bravo = await newPage(ctx.browser, ctx.server.url);
  await signInDev(alpha, 'alpha');
  await signInDev(bravo, 'bravo');
  for (const p of [alpha, bravo]) await p.evaluate(() => window.deconflict.goTo(7.0, 46.0, 12));

  // Alpha: a 2 km square; nothing there yet.
  await drawPolygon(alpha, square(7.0, 46.0, 0.01));
  await alpha.waitForSelector('[data-testid=draft-conflicts][data-state=done][data-count="0"]');
  await shot(alpha, '01-alpha-draft');
  await alpha.click('[data-testid=send]');
  await waitMessage(alpha, /Declared/);
  const alphaOvn = (await alpha.textContent('[data-testid=selected-ovn]')).trim();
  const alphaId = (await alpha.textContent('[data-testid=selected-id]')).trim();
  assert.match(alphaOvn, /^[A-Za-z0-9_=-]{16,}$/, `an OVN, not ${alphaOvn}`);
  await shot(alpha, '02-alpha-declared');

  // Bravo: an intersecting square; the conflict shows before sending.
  await drawPolygon(bravo, square(7.006, 46.006, 0.01));
  const conflict = bravo.locator(`[data-testid=draft-conflict][data-id="${alphaId}"]`);
  await conflict.waitFor();
  assert.equal(await conflict.getAttribute('data-manager'), 'alpha');
  await shot(bravo, '03-bravo-conflict-before-sending');

  // Without alpha's OVN the DSS refuses, naming alpha's intent.
  await bravo.click('[data-testid=send]');
  await waitMessage(bravo, /Refused/);
  assert.match(await bravo.textContent('[data-testid=declare-message]'), /alpha/);

  // With it (alpha reads it out), the declaration is accepted.
  await conflict.locator('[data-testid=ovn-input]').fill(alphaOvn);
  await bravo.click('[data-testid=send]');
  await waitMessage(bravo, /Declared/);

  // Bravo learns the exact overlap from its own (non-critical) conflict event.
  await bravo.waitForFunction(() => window.deconflict.store.conflicts.size > 0);
  await bravo.waitForTimeout(300);
  await shot(bravo, '04-bravo-declared-overlap');

  // Alpha: the critical conflict event arrives on the hotline.
  await alpha.click('#tabs button[data-tab=hotline]');
  const ev = alpha.locator('li.event[data-kind=strategic_conflict]');
  await ev.waitFor({ timeout: 15_000 });
  assert.match(await ev.textContent(), /bravo/);
  assert.match(await ev.getAttribute('class'), /critical/);
  await alpha.waitForFunction(() => window.deconflict.store.conflicts.size > 0);
  await alpha.evaluate(() => window.deconflict.select([...window.deconflict.store.conflicts.values()][0].theirs));
  await alpha.click('#tabs button[data-tab=hotline]');
  await alpha.waitForTimeout(300);
  await shot(alpha, '05-alpha-hotline-conflict');
  const seq = await ev.getAttribute('data-seq');
  await ev.locator('button.ack').click();
  await alpha.locator(`li.event[data-seq="${seq}"] .acked`).waitFor();

  // Bravo: its "sent" view shows that alpha acknowledged.
  await bravo.click('#tabs button[data-tab=sent]');
  const row = bravo.locator(`[data-testid=sent] tr[data-seq="${seq}"]`);
  await row.waitFor({ timeout: 10_000 });
  await bravo.waitForFunction(
    (s) => {
      const c = document.querySelector(`[data-testid=sent] tr[data-seq="${s}"] .ack-cell`);
      return c && c.textContent !== 'not yet';
    },
    seq,
    { timeout: 10_000 },
  );
  assert.match(await row.textContent(), /alpha/);
  await shot(bravo, '06-bravo-sent-acknowledged');

  // The other panels answer.
  await alpha.click('#tabs button[data-tab=notice]');
  await alpha.locator('[data-testid=notice] td', { hasText: 'bravo' }).first().waitFor();
  await shot(alpha, '07-alpha-notice');
  await alpha.click('#tabs button[data-tab=record]');
  await alpha.waitForFunction(() => /Log verified up to entry \d+/.test(document.querySelector('[data-testid=record-line]')?.textContent || ''));
  assert.match(await alpha.textContent('[data-testid=record]'), /signature verified/);
  await shot(alpha, '08-alpha-record');

  // Alpha ends its intent.
  await alpha.evaluate((id) => window.deconflict.select(id), alphaId);
  await alpha.click('[data-testid=end]');
  await waitMessage(alpha, /Ended/);
});
