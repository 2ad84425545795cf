// Responsiveness with 5,000 aircraft and 10,000 intents in view, through
// the real paths: the aircraft are posted as telemetry and polled by the
// map; the intents are declared through the DSS API by another party and
// reach the viewer as events of its subscription (which carry their
// geometry). Prints the measured times; fails only if the map stops
// answering (a generous bound, the machine is shared).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { serverAndBrowser, newPage, signInDev, shot, screenshots } from './harness.mjs';

const N_AIRCRAFT = Number(process.env.PERF_AIRCRAFT || 5000);
const N_INTENTS = Number(process.env.PERF_INTENTS || 10000);
const CENTER = [8.0, 46.5];
const GRID_DEG = 0.4; // the intents' grid: ~30 km × 44 km, under the DSS's 2,500 km²

const ctx = serverAndBrowser();

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, median: +q(0.5).toFixed(1), p95: +q(0.95).toFixed(1), max: +s[s.length - 1].toFixed(1) };
};

function volume([lng, lat], d, start, end) {
  return {
    volume: {
      outline_polygon: {
        vertices: [
          [lng - d, lat - d],
          [lng + d, lat - d],
          [lng + d, lat + d],
          [lng - d, lat + d],
        ].map(([x, y]) => ({ lat: +y.toFixed(7), lng: +x.toFixed(7) })),
      },
      altitude_lower: { value: 0, reference: 'W84', units: 'M' },
      altitude_upper: { value: 150, reference: 'W84', units: 'M' },
    },
    time_start: { value: new Date(start).toISOString(), format: 'RFC3339' },
    time_end: { value: new Date(end).toISOString(), format: 'RFC3339' },
  };
}

async function call(method, path, token, body) {
  const r = await fetch(ctx.server.url + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

/// N aircraft in a 3° × 2° box around the centre, flying straight.
function fleet(n, seed = 1) {
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: n }, (_, i) => ({
    id: `perf${String(i).padStart(5, '0')}`,
    lng: CENTER[0] - 1.5 + 3 * rnd(),
    lat: CENTER[1] - 1 + 2 * rnd(),
    alt: 300 + 11000 * rnd(),
    gs: 60 + 190 * rnd(),
    trk: 360 * rnd(),
  }));
}

function telemetry(ac, at) {
  return ac
    .map((a) =>
      JSON.stringify({
        aircraft_id: a.id,
        party: 'fleet',
        callsign: `F${a.id.slice(4)}`,
        time: new Date(at).toISOString(),
        lat_deg: a.lat,
        lon_deg: a.lng,
        alt_m: a.alt,
        ground_speed_mps: a.gs,
        track_deg: a.trk,
      }),
    )
    .join('\n');
}

/// Posts the fleet's positions in bodies under the service's 1 MiB limit.
async function postFleet(token, ac) {
  const at = Date.now();
  for (let i = 0; i < ac.length; i += 1000) await call('POST', '/v1/traffic/telemetry', token, telemetry(ac.slice(i, i + 1000), at));
}

test(`map with ${N_AIRCRAFT} aircraft and ${N_INTENTS} intents`, { timeout: 600_000 }, async () => {
  const viewer = await ctx.server.token('viewer');
  const bulk = await ctx.server.token('bulk');
  const fleetTok = await ctx.server.token('fleet');
  const page = await newPage(ctx.browser, ctx.server.url);
  await signInDev(page, 'viewer');
  await page.evaluate(([x, y]) => window.deconflict.goTo(x, y, 8), CENTER);
  const report = {};

  // The viewer subscribes to the grid's area: it is told of every intent.
  const now = Date.now();
  const h = GRID_DEG / 2;
  await call('PUT', `/dss/v1/subscriptions/${crypto.randomUUID()}`, viewer, {
    extents: { ...volume(CENTER, h, now, now + 24 * 3600e3), volume: { ...volume(CENTER, h, 0, 0).volume, altitude_lower: undefined, altitude_upper: undefined } },
    uss_base_url: 'https://viewer.example',
    notify_for_operational_intents: true,
    notify_for_constraints: false,
  });

  // ---- 10,000 intents, declared through the DSS API, 16 at a time.
  const side = Math.ceil(Math.sqrt(N_INTENTS));
  const cell = GRID_DEG / side;
  const t0 = Date.now();
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= N_INTENTS) return;
      const c = [CENTER[0] - h + cell * ((i % side) + 0.5), CENTER[1] - h + cell * (Math.floor(i / side) + 0.5)];
      const start = now + 10 * 60e3 + (i % 12) * 10 * 60e3;
      await call('PUT', `/dss/v1/operational_intent_references/${crypto.randomUUID()}`, bulk, {
        extents: [volume(c, cell * 0.35, start, start + 4 * 3600e3)],
        key: [],
        state: i % 3 === 0 ? 'Accepted' : 'Accepted',
        uss_base_url: 'https://bulk.example',
      });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  const declared = Date.now();
  report.declare_ms = declared - t0;
  report.declare_per_s = Math.round(N_INTENTS / ((declared - t0) / 1000));
  // Known with their geometry: told by the events (a query alone gives references).
  await page.waitForFunction(
    (n) => {
      let k = 0;
      for (const i of window.deconflict.store.intents.values()) if (i.extents) k++;
      return k >= n;
    },
    N_INTENTS,
    { timeout: Number(process.env.PERF_WAIT_MS || 300_000), polling: 250 },
  );
  report.events_received_ms_after_last_write = Date.now() - declared;

  // All 10,000 are active three hours from now: redraw at that time.
  await page.evaluate(([x, y]) => window.deconflict.goTo(x, y, 10), CENTER);
  const redraws = [];
  const renders = [];
  for (let k = 0; k < 6; k++) {
    const r = await page.evaluate(async (min) => {
      const app = window.deconflict;
      const t0 = performance.now();
      app.setOffset(min); // filters, rebuilds features, lays out the timeline
      const built = performance.now() - t0;
      const done = await app.map.renderComplete();
      return { built, total: done - t0, shown: app.stats.intentsShown };
    }, 180 + (k % 2));
    redraws.push(r.built);
    renders.push(r.total);
    report.intents_shown = r.shown;
  }
  report.intents_time_change_build_ms = stats(redraws);
  report.intents_time_change_to_drawn_ms = stats(renders);
  assert.ok(report.intents_shown >= N_INTENTS * 0.99, `shown ${report.intents_shown}`);

  // ---- 5,000 aircraft, posted as telemetry and polled by the map.
  const ac = fleet(N_AIRCRAFT);
  await postFleet(fleetTok, ac);
  await page.evaluate(([x, y]) => window.deconflict.goTo(x, y, 8), CENTER);
  // Polled by hand below, not by the timer.
  await page.evaluate(() => {
    window.deconflict.settings.trafficMs = 1e9;
    window.deconflict.startTraffic();
  });
  await page.waitForFunction(() => !window.deconflict.polling);
  const polls = [];
  const builds = [];
  const draws = [];
  for (let k = 0; k < 8; k++) {
    if (k % 3 === 0) await postFleet(fleetTok, ac);
    const r = await page.evaluate(async () => {
      const app = window.deconflict;
      const t0 = performance.now();
      await app.pollTraffic();
      return { total: performance.now() - t0, draw: app.stats.trafficMs, build: app.stats.trafficBuildMs, n: app.stats.aircraft, alerts: app.alerts.length };
    });
    polls.push(r.total);
    draws.push(r.draw);
    builds.push(r.build);
    report.aircraft_drawn = r.n;
    report.alerts = r.alerts;
  }
  report.traffic_poll_fetch_and_draw_ms = stats(polls);
  report.traffic_draw_ms = stats(draws);
  report.traffic_build_features_ms = stats(builds);
  assert.ok(report.aircraft_drawn >= N_AIRCRAFT * 0.9, `drawn ${report.aircraft_drawn}`);

  // ---- Frames while panning, with both on the map.
  await page.evaluate(([x, y]) => window.deconflict.goTo(x, y, 9), CENTER);
  const frames = await page.evaluate(
    () =>
      new Promise((resolve) => {
        const app = window.deconflict;
        const view = app.map.map.getView();
        const c = view.getCenter();
        const deltas = [];
        let last = performance.now();
        let running = true;
        const loop = (t) => {
          deltas.push(t - last);
          last = t;
          if (running) requestAnimationFrame(loop);
        };
        requestAnimationFrame(loop);
        view.animate({ center: [c[0] + 40000, c[1] + 20000], duration: 1500 }, { center: c, duration: 1500 }, () => {
          running = false;
          resolve(deltas.slice(1));
        });
      }),
  );
  report.pan_frame_ms = stats(frames);
  report.pan_fps = +(1000 / report.pan_frame_ms.median).toFixed(1);
  await shot(page, '11-perf-5000-aircraft-10000-intents');
  await page.evaluate(() => window.deconflict.setOffset(181));
  await page.evaluate(([x, y]) => window.deconflict.goTo(x, y, 10), CENTER);
  await page.waitForTimeout(500);
  await shot(page, '12-perf-intents-grid');

  console.log('PERF ' + JSON.stringify(report, null, 2));
  mkdirSync(screenshots, { recursive: true });
  writeFileSync(join(screenshots, 'perf.json'), JSON.stringify({ aircraft: N_AIRCRAFT, intents: N_INTENTS, ...report }, null, 2) + '\n');
  // Only a map that stops answering fails here; the numbers are the result.
  assert.ok(report.intents_time_change_to_drawn_ms.median < 10_000);
  assert.ok(report.traffic_draw_ms.median < 10_000);
});
