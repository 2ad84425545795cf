// The hotline panel (events newest first, acknowledge), the "sent" view
// (who has not acknowledged what the viewer's writes caused), the notice
// report and the state of the record.

import type { Api } from './api';
import { el, fmtClock, fmtDuration, fmtTime, fmtAlt } from './util';
import { checkRecord, type RecordState } from './record';

export interface HotlineEvent {
  seq: number;
  kind: string;
  critical: boolean;
  time: string;
  sender: string | null;
  log_index: number | null;
  data: any;
}

const short = (id: string | undefined) => (id ? id.slice(0, 8) : '?');

export function summarize(e: HotlineEvent): string {
  const d = e.data || {};
  switch (e.kind) {
    case 'operational_intent': {
      const o = d.operational_intent || {};
      return `${o.manager} ${d.change} operational intent ${short(o.id)} (${o.state}, v${o.version})`;
    }
    case 'constraint': {
      const c = d.constraint || {};
      return `${c.manager} ${d.change} constraint ${short(c.id)}`;
    }
    case 'strategic_conflict': {
      const o = d.other_operational_intent || {};
      const ov = (d.overlap || [])[0];
      const band = ov ? ` at ${fmtAlt(ov.altitude?.lower_m ?? null)}–${fmtAlt(ov.altitude?.upper_m ?? null)}, ${fmtTime(Date.parse(ov.time?.start))} to ${fmtTime(Date.parse(ov.time?.end))}` : '';
      return `conflict: ${d.other_party}'s intent ${short(o.id)} meets your ${short(d.your_operational_intent)}${band}`;
    }
    case 'late_notice': {
      const o = d.operational_intent || {};
      return `${o.manager} declared ${short(o.id)} with ${fmtDuration(d.notice_s)} notice (policy: ${fmtDuration(d.required_notice_s)})`;
    }
    case 'traffic_alert': {
      const a = d.alert || {};
      const what = a.kind === 'loss_of_separation' ? 'loss of separation' : 'predicted conflict';
      return `${d.change} ${what}: ${a.aircraft_a} (${a.party_a ?? '—'}) / ${a.aircraft_b} (${a.party_b ?? '—'}), ${Math.round(a.distance_m)} m apart, CPA ${Math.round(a.dcpa_m)} m in ${fmtDuration(a.tcpa_s)}`;
    }
    default:
      return JSON.stringify(d).slice(0, 160);
  }
}

export class HotlinePanel {
  events = new Map<number, HotlineEvent>();
  acked = new Map<number, string>(); // seq → when
  private list = el('ol', { class: 'events', 'data-testid': 'events' });
  private header = el('div', { class: 'panel-head' });
  private onlyOpen = el('input', { type: 'checkbox' });
  private scheduled = false;
  streamState = 'closed';
  onShow: (e: HotlineEvent) => void = () => {};
  onBadge: (n: number) => void = () => {};

  constructor(
    root: HTMLElement,
    private api: Api,
    private party: string,
  ) {
    try {
      for (const [k, v] of JSON.parse(localStorage.getItem(this.ackKey()) || '[]')) this.acked.set(k, v);
    } catch {
      /* ignore */
    }
    this.onlyOpen.addEventListener('change', () => this.render());
    root.replaceChildren(
      this.header,
      el('label', { class: 'inline' }, this.onlyOpen, ' unacknowledged only'),
      this.list,
    );
    this.render();
  }

  private ackKey() {
    return `deconflict.acks.${this.party}`;
  }

  maxSeq = 0;

  add(e: HotlineEvent) {
    this.events.set(e.seq, e);
    this.maxSeq = Math.max(this.maxSeq, e.seq);
    this.schedule();
  }

  setStreamState(s: string) {
    this.streamState = s;
    this.schedule();
  }

  unacknowledged(): number {
    let n = 0;
    for (const e of this.events.values()) if (!this.acked.has(e.seq)) n++;
    return n;
  }

  async ack(seq: number) {
    const r = await this.api.post<any>(`/v1/events/${seq}/ack`);
    this.acked.set(seq, r.acknowledged_at);
    const entries = [...this.acked.entries()].slice(-5000);
    localStorage.setItem(this.ackKey(), JSON.stringify(entries));
    this.render();
  }

  /// Renders at most every 200 ms: a reconnect replays thousands of events.
  private schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      this.render();
    }, 200);
  }

  render() {
    const all = [...this.events.values()].sort((a, b) => b.seq - a.seq);
    const open = this.unacknowledged();
    const critical = all.filter((e) => e.critical && !this.acked.has(e.seq)).length;
    this.onBadge(open);
    this.header.replaceChildren(
      el('span', { class: `stream ${this.streamState === 'open' ? 'ok' : 'warn'}`, 'data-testid': 'stream-state' }, `stream: ${this.streamState}`),
      ` · ${all.length} events · ${open} unacknowledged`,
      critical ? el('b', { class: 'crit' }, ` (${critical} critical)`) : '',
    );
    const shown = (this.onlyOpen.checked ? all.filter((e) => !this.acked.has(e.seq)) : all).slice(0, 300);
    this.list.replaceChildren(
      ...shown.map((e) => {
        const at = this.acked.get(e.seq);
        const ack = at
          ? el('span', { class: 'acked' }, `acknowledged ${fmtClock(Date.parse(at))}`)
          : el('button', { class: 'ack', onclick: () => void this.ack(e.seq).catch((x) => alert(x.message)) }, 'Acknowledge');
        const show =
          e.kind === 'strategic_conflict' || e.kind === 'operational_intent' || e.kind === 'late_notice'
            ? el('button', { class: 'link', onclick: () => this.onShow(e) }, 'show')
            : null;
        return el(
          'li',
          { class: `event ${e.kind}${e.critical ? ' critical' : ''}${at ? ' is-acked' : ''}`, 'data-seq': e.seq, 'data-kind': e.kind },
          el('div', { class: 'ev-head' }, el('b', {}, e.kind.replace(/_/g, ' ')), ` #${e.seq} · ${fmtClock(Date.parse(e.time))}${e.sender ? ' · from ' + e.sender : ''}${e.log_index !== null ? ' · record #' + e.log_index : ''}`),
          el('div', { class: 'ev-body' }, summarize(e)),
          el('div', { class: 'ev-actions' }, ack, show),
        );
      }),
    );
    if (all.length > shown.length) this.list.append(el('li', { class: 'more' }, `… ${all.length - shown.length} older events not listed`));
  }
}

/// GET /v1/events/sent: events the viewer's writes caused, and whether
/// their recipients acknowledged them.
export class SentPanel {
  private body = el('div', { 'data-testid': 'sent' });
  constructor(
    root: HTMLElement,
    private api: Api,
  ) {
    root.replaceChildren(
      el('div', { class: 'panel-head' }, 'Events your writes caused, and who has not acknowledged them (last 24 h). ', el('button', { onclick: () => void this.refresh() }, 'Refresh')),
      this.body,
    );
  }

  async refresh() {
    try {
      const r = await this.api.get<any>('/v1/events/sent');
      const rows = [...r.events].sort((a: any, b: any) => b.seq - a.seq);
      this.body.replaceChildren(
        el('p', { class: r.unacknowledged ? 'warn' : 'ok', 'data-testid': 'sent-summary' }, `${r.unacknowledged} of ${rows.length} not yet acknowledged`),
        el(
          'table',
          {},
          el('tr', {}, ...['#', 'to', 'kind', 'sent', 'acknowledged'].map((h) => el('th', {}, h))),
          ...rows.slice(0, 500).map((e: any) =>
            el(
              'tr',
              { class: e.acknowledged_at ? 'is-acked' : e.critical ? 'critical' : '', 'data-seq': e.seq },
              el('td', {}, String(e.seq)),
              el('td', {}, e.to),
              el('td', {}, e.kind + (e.critical ? ' (critical)' : '')),
              el('td', {}, fmtClock(Date.parse(e.created_at))),
              el('td', { class: 'ack-cell' }, e.acknowledged_at ? fmtClock(Date.parse(e.acknowledged_at)) : 'not yet'),
            ),
          ),
        ),
      );
    } catch (e: any) {
      this.body.replaceChildren(el('p', { class: 'error' }, e.message));
    }
  }
}

export class NoticePanel {
  private body = el('div');
  constructor(
    root: HTMLElement,
    private api: Api,
  ) {
    root.replaceChildren(
      el('div', { class: 'panel-head' }, 'Notice given by each party for its declarations (last 30 days). ', el('button', { onclick: () => void this.refresh() }, 'Refresh')),
      this.body,
    );
  }

  async refresh() {
    try {
      const r = await this.api.get<any>('/v1/reports/notice');
      this.body.replaceChildren(
        el(
          'table',
          { 'data-testid': 'notice' },
          el('tr', {}, ...['party', 'declarations', 'min notice', 'median notice', 'late'].map((h) => el('th', {}, h))),
          ...r.parties.map((p: any) =>
            el(
              'tr',
              { class: p.late ? 'critical' : '' },
              el('td', {}, p.party),
              el('td', {}, String(p.declarations)),
              el('td', {}, fmtDuration(p.min_notice_s)),
              el('td', {}, fmtDuration(p.median_notice_s)),
              el('td', { title: (p.late_declarations || []).map((d: any) => d.operational_intent).join('\n') }, String(p.late)),
            ),
          ),
        ),
        r.parties.length ? '' : el('p', {}, 'No declarations in the window.'),
      );
    } catch (e: any) {
      this.body.replaceChildren(el('p', { class: 'error' }, e.message));
    }
  }
}

export class RecordPanel {
  private body = el('div', { 'data-testid': 'record' });
  last: RecordState | null = null;
  constructor(
    root: HTMLElement,
    private api: Api,
  ) {
    root.replaceChildren(
      el('div', { class: 'panel-head' }, 'The tamper-evident record: signed checkpoint, checked here. ', el('button', { onclick: () => void this.refresh() }, 'Refresh')),
      this.body,
    );
  }

  async refresh() {
    try {
      const s = await checkRecord(this.api);
      this.last = s;
      const ok = s.signature === 'verified' && s.consistency !== 'failed';
      const sig = { verified: 'Ed25519 signature verified', failed: 'SIGNATURE DOES NOT VERIFY', unsupported: 'signature not checked (no Ed25519 in this browser)' }[s.signature];
      const cons = {
        verified: 'consistent with the checkpoint seen before (proof verified)',
        same: 'same as the checkpoint seen before',
        first: 'first checkpoint seen by this browser',
        failed: 'NOT CONSISTENT with the checkpoint seen before',
      }[s.consistency];
      this.body.replaceChildren(
        el('p', { class: ok ? 'ok big' : 'error big', 'data-testid': 'record-line' }, `Log verified up to entry ${s.size}, checkpoint fetched at ${fmtClock(s.fetchedAt)}`),
        el('ul', {}, el('li', {}, `origin: ${s.origin}`), el('li', {}, sig), el('li', {}, cons)),
      );
    } catch (e: any) {
      this.body.replaceChildren(el('p', { class: 'error' }, `record: ${e.message}`));
    }
  }
}
