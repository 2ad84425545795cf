// Recorded traffic replayed fast: aircraft appear on the map and move.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { existsSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launch, newPage, signInDev, shot, repo } from './harness.mjs';

const recording =
  process.env.REPLAY_FILE || resolve(repo, '../shared/data/traffic_formation_2017-12-01.csv.gz');

/// A small recording: the part of the formation flight where the two
/// aircraft close in and fly within separation minima (a real, deliberate
/// loss of separation), so that the replay shows one within seconds.
function excerpt() {
  const text = gunzipSync(readFileSync(recording)).toString('utf8');
  const [header, ...rows] = text.split('\n');
  const keep = rows.filter((r) => r >= '2017-12-01T14:38:00Z' && r < '2017-12-01T15:00:00Z');
  const file = join(mkdtempSync(join(tmpdir(), 'deconflict-replay-')), 'formation-excerpt.csv');
  writeFileSync(file, [header, ...keep].join('\n') + '\n');
  return file;
}

let server, browser;
before(async () => {
  if (!existsSync(recording)) return;
  server = await startServer(['--replay', excerpt(), '--replay-speed', '10']);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('replayed traffic moves on the map', { skip: !existsSync(recording) && `no recording at ${recording}` }, async () => {
  const page = await newPage(browser, server.url);
  await signInDev(page, 'ops');
  // The excerpt is over the south of France.
  await page.evaluate(() => {
    window.deconflict.goTo(3.5, 43.8, 8);
    window.deconflict.settings.trafficMs = 500;
    window.deconflict.startTraffic();
  });
  await page.waitForFunction(() => window.deconflict.stats.aircraft > 0, null, { timeout: 20_000 });
  const positions = () =>
    page.evaluate(() => Object.fromEntries(window.deconflict.aircraft.map((a) => [a.aircraft_id, [a.lon_deg, a.lat_deg]])));
  const first = await positions();
  await page.waitForTimeout(2500);
  const second = await positions();
  const moved = Object.keys(second).filter((id) => first[id] && (first[id][0] !== second[id][0] || first[id][1] !== second[id][1]));
  assert.ok(moved.length > 0, `some aircraft moved (seen: ${Object.keys(first).length}, then ${Object.keys(second).length})`);
  const drawn = await page.evaluate(() => window.deconflict.stats.aircraft);
  assert.ok(drawn > 0);
  // The two converge: the map highlights the loss of separation.
  await page.waitForFunction(() => window.deconflict.alerts.some((a) => a.kind === 'loss_of_separation'), null, { timeout: 60_000 });
  const ac = await page.evaluate(() => window.deconflict.aircraft.map((a) => [a.lon_deg, a.lat_deg]));
  const lon = ac.reduce((s, a) => s + a[0], 0) / ac.length;
  const lat = ac.reduce((s, a) => s + a[1], 0) / ac.length;
  await page.evaluate(([x, y]) => window.deconflict.goTo(x, y, 11), [lon, lat]);
  await page.evaluate(() => window.deconflict.pollTraffic());
  await page.waitForTimeout(600);
  assert.match(await page.textContent('[data-testid=traffic-status]'), /[1-9]\d* losses of separation/);
  await shot(page, '10-replay-loss-of-separation');
  // The parties of the aircraft are unknown here (ADS-B), so no hotline event;
  // the picture is the same for every viewer.
  console.log(`replay: ${Object.keys(first).length} aircraft, ${moved.length} moved in 2.5 s`);
});
