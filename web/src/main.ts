// The operator's map: wires sign-in, the map, the timeline, the panels,
// the event stream and the polling of the traffic and of the intents in view.

import 'ol/ol.css';
import './style.css';
import { Api, jwtClaims } from './api';
import { EventStream } from './sse';
import { MapView, type Aircraft, type Alert } from './map';
import type { NonConformance } from './traffic';
import { Timeline } from './timeline';
import { DeclarePanel } from './declare';
import { HotlinePanel, SentPanel, NoticePanel, RecordPanel, type HotlineEvent } from './hotline';
import {
  Store,
  intentFromSummary,
  intentFromReference,
  overlapFromInternal,
  extentFromInternal,
  extentBbox,
  extentToWire,
  timeBounds,
  type Filter,
  type Intent,
} from './model';
import { $, el, fmtTime, fmtClock, uuid4 } from './util';
import { fromLonLat } from 'ol/proj';

/// The DSS refuses areas over 2,500 km² (its default limit): wider views
/// are queried in tiles of at most this, up to MAX_TILES of them.
const QUERY_TILE_KM2 = 2400;
const MAX_TILES = 16;
const HOUR = 3_600_000;

interface Settings {
  tileUrl: string;
  ussBaseUrl: string;
  trafficMs: number;
  labels: boolean;
  traffic: boolean;
}

class App {
  api = new Api();
  map: MapView;
  timeline: Timeline;
  store: Store = new Store('');
  party = '';
  stream: EventStream | null = null;
  hotline: HotlinePanel | null = null;
  sent: SentPanel | null = null;
  notice: NoticePanel | null = null;
  record: RecordPanel | null = null;
  declare: DeclarePanel | null = null;
  settings: Settings;
  /// Minutes after now the map shows (0: live).
  offsetMin = 0;
  altLower: number | null = null;
  altUpper: number | null = null;
  aircraft: Aircraft[] = [];
  alerts: Alert[] = [];
  /// Aircraft outside the volumes of the intent they fly, in view.
  nonconformances: NonConformance[] = [];
  stats = { aircraft: 0, trafficMs: 0, trafficBuildMs: 0, intentsShown: 0, intentsMs: 0, queryNote: '' };
  private trafficTimer = 0;
  private queryTimer = 0;
  private bboxCache = new Map<string, { v: number; b: [number, number, number, number] }>();

  constructor() {
    this.settings = {
      tileUrl: '',
      ussBaseUrl: '',
      trafficMs: 2000,
      labels: true,
      traffic: true,
      ...JSON.parse(localStorage.getItem('deconflict.settings') || '{}'),
    };
    this.map = new MapView($('#map'));
    this.map.setTileUrl(this.settings.tileUrl);
    this.map.labels = this.settings.labels;
    this.map.onSelect = (id) => this.select(id);
    this.map.map.on('moveend', () => {
      clearTimeout(this.queryTimer);
      this.queryTimer = window.setTimeout(() => {
        void this.queryView();
        void this.pollTraffic();
        this.redraw(); // the timeline lists the intents in view
      }, 250);
    });
    this.timeline = new Timeline($('#timeline') as HTMLCanvasElement);
    this.timeline.onPick = (t, id) => {
      this.setOffset(Math.max(0, Math.round((t - Date.now()) / 60_000)));
      if (id) this.select(id);
    };
    this.wireHeader();
    this.wireTabs();
    this.renderSettings();
    this.tick();
    setInterval(() => this.tick(), 30_000);
  }

  filter(): Filter {
    return { at: Date.now() + this.offsetMin * 60_000, lower: this.altLower, upper: this.altUpper };
  }

  // ------------------------------------------------------------ sign-in

  private wireHeader() {
    const tokenInput = $('#token') as HTMLInputElement;
    $('#signin').addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (tokenInput.value.trim()) void this.signIn(tokenInput.value.trim());
    });
    $('#dev-token').addEventListener('click', async () => {
      const sub = ($('#dev-party') as HTMLInputElement).value.trim();
      if (!sub) return;
      try {
        const r = await this.api.post<any>('/v1/dev/token', { sub });
        await this.signIn(r.token);
      } catch (e: any) {
        this.status(`dev token: ${e.message}`);
      }
    });
    $('#signout').addEventListener('click', () => {
      localStorage.removeItem('deconflict.token');
      location.reload();
    });
    // The dev button only where the service mints tokens (development mode).
    void fetch('/v1/dev/token').then((r) => {
      ($('#dev-signin') as HTMLElement).hidden = r.status === 404;
    });
    const slider = $('#time-slider') as HTMLInputElement;
    slider.addEventListener('input', () => this.setOffset(Number(slider.value)));
    $('#time-now').addEventListener('click', () => this.setOffset(0));
    const num = (s: string) => (s.trim() === '' ? null : Number(s));
    for (const id of ['#alt-lower', '#alt-upper'])
      $(id).addEventListener('change', () => {
        this.altLower = num(($('#alt-lower') as HTMLInputElement).value);
        this.altUpper = num(($('#alt-upper') as HTMLInputElement).value);
        this.redraw();
        this.redrawTraffic();
      });
    const saved = localStorage.getItem('deconflict.token');
    if (saved) void this.signIn(saved, true);
  }

  async signIn(token: string, quiet = false) {
    const claims = jwtClaims(token);
    if (!claims?.sub) {
      this.status('That is not a JWT with a subject.');
      return;
    }
    this.api.token = token;
    try {
      await this.api.get('/v1/events/sent?limit=1'); // checks the token
    } catch (e: any) {
      this.api.token = null;
      if (quiet) localStorage.removeItem('deconflict.token');
      this.status(`sign-in refused: ${e.message}`);
      return;
    }
    localStorage.setItem('deconflict.token', token);
    this.stream?.stop();
    this.party = claims.sub;
    this.map.setParty(this.party);
    $('#whoami').textContent = `${this.party}`;
    $('#whoami').classList.add('signed-in');
    ($('#token') as HTMLInputElement).value = '';
    ($('#signout') as HTMLElement).hidden = false;
    document.body.classList.add('signed-in');
    if (!this.settings.ussBaseUrl) this.settings.ussBaseUrl = '';
    this.store = new Store(this.party);
    this.store.on((what) => this.onStore(what));
    this.store.restore();
    this.hotline = new HotlinePanel($('#tab-hotline'), this.api, this.party);
    this.hotline.onBadge = (n) => {
      const b = $('#unacked-badge');
      b.hidden = n === 0;
      b.textContent = String(n);
    };
    this.hotline.onShow = (e) => this.showEvent(e);
    this.sent = new SentPanel($('#tab-sent'), this.api);
    this.notice = new NoticePanel($('#tab-notice'), this.api);
    this.record = new RecordPanel($('#tab-record'), this.api);
    this.declare = new DeclarePanel($('#tab-declare'), {
      api: this.api,
      store: this.store,
      map: this.map,
      party: this.party,
      ussBaseUrl: () => this.settings.ussBaseUrl || `https://${encodeURIComponent(this.party)}.uss.example`,
      afterWrite: () => {
        void this.queryView();
        setTimeout(() => void this.sent?.refresh(), 300);
      },
      select: (id) => this.select(id),
      lastSeq: () => this.hotline!.maxSeq,
    });
    this.declare.renderOwn();
    this.stream = new EventStream(
      '/v1/events',
      () => this.api.token,
      (m) => {
        try {
          this.onEvent(JSON.parse(m.data));
        } catch (e) {
          console.error('bad event', e, m);
        }
      },
      (s) => this.hotline?.setStreamState(s),
    );
    this.stream.start();
    void this.queryView();
    void this.sent.refresh();
    void this.notice.refresh();
    void this.record.refresh();
    this.startTraffic();
    setInterval(() => void this.record?.refresh(), 15_000);
    setInterval(() => {
      if (this.activeTab === 'sent') void this.sent?.refresh();
    }, 3000);
    setInterval(() => void this.queryView(), 20_000);
  }

  // ------------------------------------------------------------ events

  /// The seq up to which the stream is known complete, and the timer of
  /// the next check (see `onEvent`).
  private quietSeq = 0;
  private resyncTimer = 0;

  onEvent(e: HotlineEvent) {
    const known = this.hotline!.events.has(e.seq);
    this.hotline!.add(e);
    if (known) return; // a critical event sent again, or a resync
    // Under concurrent writes the service may push events slightly out of
    // sequence order, and a live stream skips one older than the last it
    // sent. Once a burst is over, ask again for everything since the last
    // quiet moment: duplicates are dropped above, and what was skipped
    // arrives.
    clearTimeout(this.resyncTimer);
    this.resyncTimer = window.setTimeout(() => {
      const from = this.quietSeq;
      this.quietSeq = this.hotline!.maxSeq;
      if (from > 0 || this.hotline!.events.size > 0) this.stream?.resync(from);
    }, 1500);
    const d = e.data || {};
    switch (e.kind) {
      case 'operational_intent':
        if (d.change === 'deleted') this.store.removeIntent(d.operational_intent.id);
        else this.store.putIntent(intentFromSummary(d.operational_intent));
        break;
      case 'strategic_conflict': {
        const other = intentFromSummary(d.other_operational_intent);
        this.store.putIntent(other);
        this.store.putConflict({
          ours: d.your_operational_intent,
          theirs: other.id,
          other_party: d.other_party,
          overlaps: (d.overlap || []).map(overlapFromInternal),
          seq: e.seq,
        });
        break;
      }
      case 'late_notice':
        this.store.putIntent(intentFromSummary(d.operational_intent));
        break;
      case 'constraint': {
        const c = d.constraint;
        if (d.change === 'deleted') this.store.constraints.delete(c.id);
        else {
          const extents = (c.extents || []).map(extentFromInternal);
          const t = timeBounds(extents);
          this.store.constraints.set(c.id, { id: c.id, manager: c.manager, version: c.version, extents, time_start: t.start, time_end: t.end });
        }
        this.store.changed('constraints');
        break;
      }
    }
  }

  private showEvent(e: HotlineEvent) {
    const d = e.data || {};
    const o = d.other_operational_intent || d.operational_intent;
    if (!o) return;
    const intent = this.store.intents.get(o.id);
    const extents = e.kind === 'strategic_conflict' ? (d.overlap || []).map(overlapFromInternal) : intent?.extents || [];
    const first = extents[0];
    if (first?.start) this.setOffset(Math.max(0, Math.ceil((first.start - Date.now()) / 60_000) + 1));
    if (intent?.extents?.length) this.fitExtents(intent.extents.map(extentBbox));
    this.select(o.id);
  }

  private fitExtents(boxes: [number, number, number, number][]) {
    if (!boxes.length) return;
    const b = boxes.reduce((a, x) => [Math.min(a[0], x[0]), Math.min(a[1], x[1]), Math.max(a[2], x[2]), Math.max(a[3], x[3])]);
    this.map.fitLonLat(b as [number, number, number, number]);
  }

  // ------------------------------------------------------------ drawing

  private onStore(what: string) {
    if (what === 'intents' || what === 'conflicts') {
      this.redraw();
      this.declare?.renderOwn();
      if (this.map.selected) this.declare?.showSelected(this.map.selected);
    } else this.redraw();
  }

  select(id: string | null) {
    // An intent that is not active at the time shown: show its start.
    const i = id ? this.store.intents.get(id) : undefined;
    const f = this.filter();
    if (i?.extents?.length && !i.extents.some((e) => (e.start ?? -Infinity) <= f.at && f.at < (e.end ?? Infinity))) {
      const start = Math.min(...i.extents.map((e) => e.start ?? Date.now()));
      this.setOffset(Math.max(0, Math.ceil((start - Date.now()) / 60_000) + 1));
    }
    this.map.selected = id;
    this.timeline.selected = id;
    this.map.refreshIntents();
    this.timeline.draw();
    this.declare?.showSelected(id);
    if (id) this.showTab('declare');
  }

  setOffset(min: number) {
    this.offsetMin = Math.min(1440, Math.max(0, min));
    ($('#time-slider') as HTMLInputElement).value = String(this.offsetMin);
    this.redraw(false);
  }

  /// Keeps "now" moving and the labels current.
  private tick() {
    this.redraw();
  }

  private bbox(i: Intent) {
    const c = this.bboxCache.get(i.id);
    if (c && c.v === i.version) return c.b;
    const bs = i.extents!.map(extentBbox);
    const b = bs.reduce((a, x) => [Math.min(a[0], x[0]), Math.min(a[1], x[1]), Math.max(a[2], x[2]), Math.max(a[3], x[3])]) as [number, number, number, number];
    this.bboxCache.set(i.id, { v: i.version, b });
    return b;
  }

  /// The intents in view: those the last query of the view returned, and
  /// those whose known geometry meets the view.
  intentsInView(): Intent[] {
    const [a, b, c, d] = this.map.viewBbox();
    const out: Intent[] = [];
    for (const i of this.store.intents.values()) {
      if (i.extents && i.extents.length) {
        const [x0, y0, x1, y1] = this.bbox(i);
        if (x1 >= a && x0 <= c && y1 >= b && y0 <= d) out.push(i);
      } else if (this.store.inView.has(i.id)) out.push(i);
    }
    return out;
  }

  /// Redraws the declared airspace for the time and altitude filter (and,
  /// unless only the time or band changed, lays the timeline out again).
  redraw(layout = true): number {
    const t0 = performance.now();
    const f = this.filter();
    ($('#time-label') as HTMLOutputElement).value = this.offsetMin === 0 ? `now (${fmtClock(f.at).slice(0, 5)}Z)` : fmtTime(f.at);
    this.stats.intentsShown = this.map.setIntents(this.store.intents.values(), f);
    this.map.setConflicts(this.store.conflicts.values(), f);
    this.map.setConstraints(this.store.constraints.values(), f);
    this.map.setSubscriptions(this.store.subscriptions.values(), f);
    this.timeline.cursor = f.at;
    if (layout) this.timeline.set(this.intentsInView(), [...this.store.conflicts.values()], this.party);
    else this.timeline.draw();
    this.stats.intentsMs = performance.now() - t0;
    this.renderStatus();
    return this.stats.intentsMs;
  }

  // ------------------------------------------------------------ queries

  /// The boxes to query for the view, each under the DSS's area limit.
  queryBoxes(): { boxes: [number, number, number, number][]; partial: boolean } {
    const [a, b, c, d] = this.map.viewBbox();
    const mid = ((b + d) / 2) * (Math.PI / 180);
    const kmLat = 111.32;
    const kmLng = 111.32 * Math.cos(mid);
    const area = (d - b) * kmLat * (c - a) * kmLng;
    const k = Math.max(1, Math.ceil(Math.sqrt(area / QUERY_TILE_KM2)));
    const side = Math.min(k, Math.sqrt(MAX_TILES));
    const dLat = (d - b) / k;
    const dLng = (c - a) / k;
    // Too wide: the centre of the view only, marked on the map.
    const i0 = Math.floor((k - side) / 2);
    const boxes: [number, number, number, number][] = [];
    for (let i = i0; i < i0 + side; i++)
      for (let j = i0; j < i0 + side; j++) boxes.push([a + j * dLng, b + i * dLat, a + (j + 1) * dLng, b + (i + 1) * dLat]);
    return { boxes, partial: side < k };
  }

  async queryView() {
    if (!this.api.token) return;
    const { boxes, partial } = this.queryBoxes();
    const now = Date.now();
    const vol = ([a, b, c, d]: number[]) =>
      extentToWire({ polygon: [[a, b], [c, b], [c, d], [a, d]], lower: null, upper: null, start: now, end: now + 24 * HOUR });
    try {
      const answers = await Promise.all(
        boxes.map((bx) => this.api.post<any>('/dss/v1/operational_intent_references/query', { area_of_interest: vol(bx) })),
      );
      const ids = new Set<string>();
      for (const a of answers)
        for (const r of a.operational_intent_references) {
          ids.add(r.id);
          this.store.putReference(intentFromReference(r));
        }
      this.store.inView = ids;
      // Own intents no longer in the DSS (expired, ended elsewhere) go.
      const covered = (i: Intent) => i.extents?.some((e) => { const [x0, y0, x1, y1] = extentBbox(e); return boxes.some(([a, b, c, d]) => x0 >= a && x1 <= c && y0 >= b && y1 <= d); });
      for (const i of this.store.own()) if (!ids.has(i.id) && covered(i) && (i.time_end ?? Infinity) > now) this.store.removeIntent(i.id);
      // The union of the tiles is one rectangle: outline it when partial.
      const union = boxes.reduce((u, x) => [Math.min(u[0], x[0]), Math.min(u[1], x[1]), Math.max(u[2], x[2]), Math.max(u[3], x[3])]);
      this.map.setQueryBoxes(partial ? [union] : []);
      this.stats.queryNote = partial ? 'view too wide: intents queried in the dashed box only' : '';
      const subs = await this.api.post<any>('/dss/v1/subscriptions/query', { area_of_interest: vol(boxes[0]) }).catch(() => null);
      if (subs) this.stats.queryNote += subs.subscriptions.length ? ` · ${subs.subscriptions.length} own subscription(s) here` : '';
      this.store.changed('intents');
    } catch (e: any) {
      this.stats.queryNote = `query: ${e.message}`;
      this.renderStatus();
    }
  }

  /// Subscribes the party to the area in view for the next 24 hours, so
  /// that it hears of (and learns the geometry of) every intent there.
  async watchView() {
    const [box] = this.queryBoxes().boxes;
    const now = Date.now();
    const [a, b, c, d] = box;
    const ext = { polygon: [[a, b], [c, b], [c, d], [a, d]] as [number, number][], lower: null, upper: null, start: now, end: now + 24 * HOUR };
    const id = uuid4();
    const url = this.settings.ussBaseUrl || `https://${encodeURIComponent(this.party)}.uss.example`;
    await this.api.put(`/dss/v1/subscriptions/${id}`, {
      extents: extentToWire(ext),
      uss_base_url: url,
      notify_for_operational_intents: true,
      notify_for_constraints: true,
    });
    this.store.subscriptions.set(id, { id, extents: [ext], time_start: ext.start, time_end: ext.end, implicit: false });
    this.store.persist();
    this.store.changed('subscriptions');
    return id;
  }

  // ------------------------------------------------------------ traffic

  startTraffic() {
    clearInterval(this.trafficTimer);
    if (!this.settings.traffic) return;
    this.trafficTimer = window.setInterval(() => void this.pollTraffic(), this.settings.trafficMs);
    void this.pollTraffic();
  }

  polling = false;

  async pollTraffic() {
    if (!this.api.token || !this.settings.traffic || this.polling) return;
    this.polling = true;
    try {
      const [a, b, c, d] = this.map.viewBbox();
      const q = `bbox=${b.toFixed(4)},${a.toFixed(4)},${d.toFixed(4)},${c.toFixed(4)}`;
      const [ac, al, nc] = await Promise.all([
        this.api.get<any>(`/v1/traffic/aircraft?${q}`),
        this.api.get<any>(`/v1/traffic/alerts?${q}`),
        this.api.get<any>(`/v1/traffic/nonconformances?${q}`),
      ]);
      this.aircraft = ac.aircraft;
      this.alerts = al.alerts;
      this.nonconformances = nc.nonconformances;
      await this.redrawTraffic();
    } catch (e: any) {
      this.stats.queryNote = `traffic: ${e.message}`;
    } finally {
      this.polling = false;
    }
  }

  /// Replaces the traffic on the map; resolves with the time until the map
  /// has drawn it.
  async redrawTraffic(): Promise<number> {
    const t0 = performance.now();
    const offPlan = new Set(this.nonconformances.map((n) => n.aircraft_id));
    this.stats.aircraft = this.map.setTraffic(this.aircraft, this.alerts, offPlan, this.filter());
    this.stats.trafficBuildMs = this.map.trafficBuildMs;
    const t1 = await this.map.renderComplete();
    this.stats.trafficMs = t1 - t0;
    this.renderStatus();
    return this.stats.trafficMs;
  }

  // ------------------------------------------------------------ chrome

  private statusMsg = '';
  status(msg: string) {
    this.statusMsg = msg;
    this.renderStatus();
  }

  private renderStatus() {
    const s = this.stats;
    const los = this.alerts.filter((a) => a.kind === 'loss_of_separation').length;
    const conf = this.alerts.length - los;
    $('#status').replaceChildren(
      this.statusMsg ? el('div', { class: 'error' }, this.statusMsg) : '',
      el('div', { 'data-testid': 'traffic-status' }, `${s.aircraft} aircraft · ${conf} predicted conflicts · ${los} losses of separation · ${this.nonconformances.length} non-conforming · drawn in ${s.trafficMs.toFixed(0)} ms`),
      el('div', { 'data-testid': 'intents-status' }, `${s.intentsShown} volumes shown · ${this.store.conflicts.size} strategic conflicts · updated in ${s.intentsMs.toFixed(0)} ms`),
      s.queryNote ? el('div', { class: 'muted' }, s.queryNote) : '',
    );
  }

  activeTab = 'declare';
  private wireTabs() {
    for (const b of document.querySelectorAll<HTMLButtonElement>('#tabs button')) b.addEventListener('click', () => this.showTab(b.dataset.tab!));
  }

  showTab(tab: string) {
    this.activeTab = tab;
    for (const b of document.querySelectorAll<HTMLButtonElement>('#tabs button')) b.classList.toggle('active', b.dataset.tab === tab);
    for (const s of document.querySelectorAll<HTMLElement>('.tab')) s.classList.toggle('active', s.id === `tab-${tab}`);
    if (tab === 'sent') void this.sent?.refresh();
    if (tab === 'notice') void this.notice?.refresh();
    if (tab === 'record') void this.record?.refresh();
  }

  private saveSettings() {
    localStorage.setItem('deconflict.settings', JSON.stringify(this.settings));
  }

  private renderSettings() {
    const tile = el('input', { value: this.settings.tileUrl, placeholder: 'https://tiles.example/{z}/{x}/{y}.png', size: 34, 'data-testid': 'tile-url' });
    const uss = el('input', { value: this.settings.ussBaseUrl, placeholder: 'https://<party>.uss.example', size: 34 });
    const every = el('input', { type: 'number', min: '500', step: '500', value: String(this.settings.trafficMs), size: 6 });
    const labels = el('input', { type: 'checkbox' });
    labels.checked = this.settings.labels;
    const traffic = el('input', { type: 'checkbox' });
    traffic.checked = this.settings.traffic;
    const watchMsg = el('span', { class: 'muted' });
    const apply = () => {
      this.settings.tileUrl = tile.value.trim();
      this.settings.ussBaseUrl = uss.value.trim();
      this.settings.trafficMs = Math.max(500, Number(every.value) || 2000);
      this.settings.labels = labels.checked;
      this.settings.traffic = traffic.checked;
      this.saveSettings();
      this.map.setTileUrl(this.settings.tileUrl);
      this.map.labels = this.settings.labels;
      this.startTraffic();
      void this.redrawTraffic();
    };
    for (const i of [tile, uss, every, labels, traffic]) i.addEventListener('change', apply);
    $('#tab-settings').replaceChildren(
      el('h3', {}, 'Map'),
      el('label', { class: 'block' }, 'Tile URL (optional; the basemap is offline without it) ', tile),
      el('label', { class: 'block' }, traffic, ' show live traffic, every ', every, ' ms'),
      el('label', { class: 'block' }, labels, ' aircraft labels (when at most 400 are in view)'),
      el('h3', {}, 'Declarations'),
      el('label', { class: 'block' }, 'USS base URL of this party ', uss),
      el('h3', {}, 'Subscriptions'),
      el(
        'p',
        {},
        'The DSS tells a party about intents in the areas it subscribes to; the map learns their geometry from those events. ',
        el(
          'button',
          {
            'data-testid': 'watch',
            onclick: () =>
              void this.watchView().then(
                (id) => (watchMsg.textContent = `subscribed (${id.slice(0, 8)}) to the area in view for 24 h`),
                (e) => (watchMsg.textContent = e.message),
              ),
          },
          'Watch the area in view',
        ),
        ' ',
        watchMsg,
      ),
      el(
        'p',
        { class: 'muted' },
        'Other parties\u2019 intents are drawn with the extents learned from events (DSS queries give their time bounds only); intents known only by reference are listed on the timeline.',
      ),
    );
  }
}

const app = new App();
// For the end-to-end tests and the performance measurement.
Object.assign(app, {
  /// Centres the map (instantly).
  goTo(lng: number, lat: number, zoom: number) {
    const v = app.map.map.getView();
    v.setCenter(fromLonLat([lng, lat]));
    v.setZoom(zoom);
    app.map.map.renderSync();
  },
  /// The pixel of a position, relative to the map element.
  pixelOf(lng: number, lat: number) {
    return app.map.map.getPixelFromCoordinate(fromLonLat([lng, lat]));
  },
});
(window as any).deconflict = app;
