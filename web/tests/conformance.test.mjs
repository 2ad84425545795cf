// Conformance monitoring on the map: an aircraft whose telemetry names the
// operational intent it flies, seen outside that intent's volumes, is
// marked as non-conforming; back inside, the mark goes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, newPage, signInDev, shot } from './harness.mjs';

const ctx = serverAndBrowser();

const LNG = 7.44;
const LAT = 46.95;

test('an aircraft outside its declared volumes is highlighted as non-conforming', async () => {
  const page = await newPage(ctx.browser, ctx.server.url);
  await signInDev(page, 'alpha');
  await page.evaluate(([lng, lat]) => {
    window.deconflict.goTo(lng, lat, 14);
    window.deconflict.settings.trafficMs = 500;
    window.deconflict.startTraffic();
  }, [LNG, LAT]);

  // Alpha declares a 300 m circle, 0–120 m, for the next hour, through the
  // API with the page's own token, and activates it (flying: its telemetry
  // may now name it).
  const intentId = await page.evaluate(async ([lng, lat]) => {
    const api = window.deconflict.api;
    const now = Date.now();
    const t = (ms) => ({ value: new Date(ms).toISOString(), format: 'RFC3339' });
    const id = crypto.randomUUID();
    const body = {
      extents: [
        {
          volume: {
            outline_circle: { center: { lat, lng }, radius: { value: 300, units: 'M' } },
            altitude_lower: { value: 0, reference: 'W84', units: 'M' },
            altitude_upper: { value: 120, reference: 'W84', units: 'M' },
          },
          time_start: t(now - 60_000),
          time_end: t(now + 3_600_000),
        },
      ],
      key: [],
      state: 'Accepted',
      uss_base_url: 'https://alpha.example',
      new_subscription: { uss_base_url: 'https://alpha.example' },
    };
    const url = `/dss/v1/operational_intent_references/${id}`;
    const created = await api.put(url, body);
    const oir = created.operational_intent_reference;
    delete body.new_subscription;
    await api.put(`${url}/${oir.ovn}`, { ...body, state: 'Activated', subscription_id: oir.subscription_id });
    return id;
  }, [LNG, LAT]);

  // The status line is redrawn after the map: wait for it, not for the data.
  const statusSays = (re) =>
    page.waitForFunction((src) => new RegExp(src).test(document.querySelector('[data-testid=traffic-status]')?.textContent ?? ''), re.source, {
      timeout: 20_000,
    });

  // Its drone reports, naming the intent: first inside, then 1 km north.
  const report = (dLat) =>
    page.evaluate(
      async ([lng, lat, id]) => {
        const line = {
          aircraft_id: 'D7',
          party: 'alpha',
          callsign: 'DRONE7',
          time: new Date().toISOString(),
          lat_deg: lat,
          lon_deg: lng,
          alt_m: 60,
          east_mps: 0,
          north_mps: 5,
          intent_id: id,
        };
        return window.deconflict.api.post('/v1/traffic/telemetry', [line]);
      },
      [LNG, LAT + dLat, intentId],
    );
  await report(0);
  await statusSays(/^1 aircraft .* 0 non-conforming/);

  await report(0.009);
  await page.waitForFunction(() => window.deconflict.nonconformances.some((n) => n.aircraft_id === 'D7'), null, { timeout: 20_000 });
  const nc = await page.evaluate(() => window.deconflict.nonconformances[0]);
  assert.equal(nc.operational_intent, intentId);
  assert.ok(nc.horizontal_outside_m > 500, `outside by ${nc.horizontal_outside_m} m`);
  await statusSays(/ 1 non-conforming/);
  // The mark is drawn: magenta pixels around the aircraft.
  const magenta = await page.evaluate(() => {
    const [x, y] = window.deconflict.pixelOf(window.deconflict.aircraft[0].lon_deg, window.deconflict.aircraft[0].lat_deg);
    const canvases = [...document.querySelectorAll('#map canvas')];
    let count = 0;
    for (const c of canvases) {
      const g = c.getContext('2d');
      if (!g) continue;
      const r = c.width / c.getBoundingClientRect().width || 1;
      const d = g.getImageData(Math.round((x - 16) * r), Math.round((y - 16) * r), Math.round(32 * r), Math.round(32 * r)).data;
      for (let i = 0; i < d.length; i += 4) if (d[i] > 150 && d[i + 1] < 60 && d[i + 2] > 150 && d[i + 3] > 100) count++;
    }
    return count;
  });
  assert.ok(magenta > 10, `non-conformance marker drawn (${magenta} magenta pixels)`);
  await shot(page, '09-nonconforming-aircraft');

  // Back inside: resolved, the mark goes.
  await report(0);
  await page.waitForFunction(() => window.deconflict.nonconformances.length === 0, null, { timeout: 20_000 });
  await statusSays(/ 0 non-conforming/);
});
