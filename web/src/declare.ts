// Declaring from the map: draw polygons or circles, set the altitude band
// and time window, see the conflicts the declaration would have, send it;
// edit and end own intents.
//
// "The conflicts it would have" are the intents the DSS query finds in each
// drawn volume (the service tests volumes exactly). The standard requires a
// new Accepted intent to carry the OVN of every intent it meets: the
// viewer's own are known; another party's OVN is given by that party (over
// the USS-to-USS channel, or read out on the phone), so the panel asks for
// it next to each conflicting intent.

import type { Api } from './api';
import { ApiError } from './api';
import type { MapView } from './map';
import type { Extent, Intent, Store } from './model';
import { extentToWire, intentFromReference } from './model';
import { el, fmtTime, fmtAlt, fromLocalInput, toLocalInput, uuid4, partyCss } from './util';

export interface DeclareHost {
  api: Api;
  store: Store;
  map: MapView;
  party: string;
  ussBaseUrl(): string;
  afterWrite(): void;
  /// The last event seq received: events of a write come after it.
  lastSeq(): number;
  select(id: string | null): void;
}

interface DraftConflict {
  intent: Intent;
  own: boolean;
}

const short = (id: string) => id.slice(0, 8);

export class DeclarePanel {
  private selectedBox = el('div', { class: 'selected', 'data-testid': 'selected' });
  private shapes = el('span', { 'data-testid': 'draft-shapes' }, 'no shape');
  private lower = el('input', { type: 'number', step: '10', value: '0', 'data-testid': 'alt-lower', size: 6 });
  private upper = el('input', { type: 'number', step: '10', value: '120', 'data-testid': 'alt-upper', size: 6 });
  private start = el('input', { type: 'datetime-local', 'data-testid': 'time-start' });
  private end = el('input', { type: 'datetime-local', 'data-testid': 'time-end' });
  private state = el('select', { 'data-testid': 'state' }, el('option', {}, 'Accepted'), el('option', {}, 'Activated'));
  private editing = el('span', { 'data-testid': 'editing' }, 'new declaration');
  private conflictsBox = el('div', { class: 'draft-conflicts', 'data-testid': 'draft-conflicts' });
  private message = el('div', { class: 'message', 'data-testid': 'declare-message' });
  private ownList = el('ul', { class: 'own', 'data-testid': 'own-intents' });
  private sendBtn = el('button', { class: 'primary', 'data-testid': 'send' }, 'Send');
  private editId: string | null = null;
  private conflicts: DraftConflict[] = [];
  /// OVNs typed in for other parties' intents, kept across re-checks.
  private givenOvns = new Map<string, string>();
  private checkTimer = 0;
  private checkSeq = 0;

  constructor(
    root: HTMLElement,
    private host: DeclareHost,
  ) {
    const now = Date.now();
    this.start.value = toLocalInput(now + 10 * 60_000);
    this.end.value = toLocalInput(now + 70 * 60_000);
    for (const i of [this.lower, this.upper, this.start, this.end]) i.addEventListener('change', () => this.scheduleCheck());
    this.sendBtn.addEventListener('click', () => void this.send());
    host.map.onDraftChange = () => this.scheduleCheck();
    root.replaceChildren(
      this.selectedBox,
      el('h3', {}, 'Declare an operational intent'),
      el(
        'div',
        { class: 'row' },
        el('button', { 'data-testid': 'draw-polygon', onclick: () => host.map.startDraw('Polygon') }, 'Draw polygon'),
        el('button', { 'data-testid': 'draw-circle', onclick: () => host.map.startDraw('Circle') }, 'Draw circle'),
        el('button', { onclick: () => this.reset() }, 'Clear'),
        ' ',
        this.shapes,
      ),
      el('div', { class: 'row' }, el('label', {}, 'altitude ', this.lower), el('label', {}, ' to ', this.upper, ' m (WGS84)')),
      el('div', { class: 'row' }, el('label', {}, 'from ', this.start)),
      el('div', { class: 'row' }, el('label', {}, 'to ', this.end)),
      el('div', { class: 'row' }, el('label', {}, 'state ', this.state), ' · ', this.editing),
      el('h4', {}, 'Conflicts before sending'),
      this.conflictsBox,
      el('div', { class: 'row' }, this.sendBtn),
      this.message,
      el('h3', {}, 'My operational intents'),
      this.ownList,
    );
    this.renderConflicts();
  }

  // ------------------------------------------------------------ selection

  showSelected(id: string | null) {
    const i = id ? this.host.store.intents.get(id) : undefined;
    if (!i) {
      this.selectedBox.replaceChildren();
      return;
    }
    const own = i.manager === this.host.party;
    const conflicts = this.host.store.conflictsOf(i.id);
    this.selectedBox.replaceChildren(
      ...[el('h3', {}, el('span', { class: 'swatch', style: `background:${partyCss(i.manager)}` }), `${i.manager}'s intent ${short(i.id)}`),
      el(
        'dl',
        {},
        el('dt', {}, 'id'),
        el('dd', { 'data-testid': 'selected-id' }, i.id),
        el('dt', {}, 'state'),
        el('dd', {}, `${i.state}, version ${i.version}`),
        el('dt', {}, 'time'),
        el('dd', {}, `${fmtTime(i.time_start)} → ${fmtTime(i.time_end)}`),
        el('dt', {}, 'extents'),
        el('dd', {}, i.extents ? i.extents.map((e) => `${e.circle ? 'circle' : 'polygon'} ${fmtAlt(e.lower)}–${fmtAlt(e.upper)}`).join('; ') : 'geometry not known here (learned only from events)'),
        own ? el('dt', {}, 'OVN') : null,
        own ? el('dd', { 'data-testid': 'selected-ovn', class: 'mono' }, i.ovn || '(query the area to learn it)') : null,
        conflicts.length ? el('dt', {}, 'conflicts') : null,
        conflicts.length ? el('dd', { class: 'crit' }, conflicts.map((c) => `${c.other_party} (${short(c.ours === i.id ? c.theirs : c.ours)})`).join(', ')) : null,
      ),
      own
        ? el(
            'div',
            { class: 'row' },
            el('button', { 'data-testid': 'edit', onclick: () => this.edit(i) }, 'Edit'),
            el('button', { 'data-testid': 'end', class: 'danger', onclick: () => void this.endIntent(i) }, 'End'),
          )
        : null,
      ].filter((x) => x !== null) as HTMLElement[],
    );
  }

  renderOwn() {
    const own = this.host.store.own().sort((a, b) => (a.time_start ?? 0) - (b.time_start ?? 0));
    this.ownList.replaceChildren(
      ...own.map((i) =>
        el(
          'li',
          { 'data-id': i.id },
          el('button', { class: 'link', onclick: () => this.host.select(i.id) }, short(i.id)),
          ` ${i.state} v${i.version} ${fmtTime(i.time_start)}–${fmtTime(i.time_end).slice(11)}`,
          this.host.store.conflictsOf(i.id).length ? el('b', { class: 'crit' }, ' conflict') : '',
          ' ',
          el('button', { onclick: () => this.edit(i) }, 'Edit'),
          el('button', { class: 'danger', onclick: () => void this.endIntent(i) }, 'End'),
        ),
      ),
    );
    if (!own.length) this.ownList.append(el('li', { class: 'muted' }, 'none'));
  }

  // ------------------------------------------------------------ the draft

  private reset() {
    this.host.map.clearDraft();
    this.editId = null;
    this.editing.textContent = 'new declaration';
    this.conflicts = [];
    this.host.map.setPreview([]);
    this.renderConflicts();
  }

  private edit(i: Intent) {
    if (!i.extents || !i.extents.length) {
      this.message.textContent = 'The geometry of this intent is not known in this browser; draw it again to replace it.';
    } else {
      this.host.map.setDraft(i.extents);
      const e = i.extents[0];
      this.lower.value = e.lower === null ? '' : String(e.lower);
      this.upper.value = e.upper === null ? '' : String(e.upper);
      if (e.start !== null) this.start.value = toLocalInput(e.start);
      if (e.end !== null) this.end.value = toLocalInput(e.end);
    }
    this.state.value = i.state === 'Activated' ? 'Activated' : 'Accepted';
    this.editId = i.id;
    this.editing.textContent = `editing ${short(i.id)} (v${i.version})`;
    this.scheduleCheck();
  }

  /// The drawn shapes with the band and window: the extents to declare.
  draftExtents(): Extent[] {
    const num = (s: string) => (s.trim() === '' ? null : Number(s));
    const lower = num(this.lower.value);
    const upper = num(this.upper.value);
    const start = fromLocalInput(this.start.value);
    const end = fromLocalInput(this.end.value);
    return this.host.map.draftFootprints().map((fp) => ({ ...fp, lower, upper, start, end }));
  }

  private scheduleCheck() {
    clearTimeout(this.checkTimer);
    this.checkTimer = window.setTimeout(() => void this.check(), 150);
  }

  /// Queries each drawn volume: the intents the declaration would meet.
  async check(): Promise<DraftConflict[]> {
    const extents = this.draftExtents();
    const n = extents.length;
    this.shapes.textContent = n ? `${n} shape${n > 1 ? 's' : ''}` : 'no shape';
    const seq = ++this.checkSeq;
    if (!n) {
      this.conflicts = [];
      this.renderConflicts();
      return [];
    }
    this.conflictsBox.dataset.state = 'checking';
    try {
      const found = new Map<string, Intent>();
      const answers = await Promise.all(
        extents.map((e) =>
          this.host.api.post<any>('/dss/v1/operational_intent_references/query', { area_of_interest: extentToWire(e) }),
        ),
      );
      for (const a of answers)
        for (const r of a.operational_intent_references) {
          this.host.store.inView.add(r.id);
          if (r.id === this.editId) continue;
          const ref = intentFromReference(r);
          this.host.store.putReference(ref);
          found.set(r.id, this.host.store.intents.get(r.id)!);
        }
      if (seq !== this.checkSeq) return this.conflicts;
      this.conflicts = [...found.values()].map((intent) => ({ intent, own: intent.manager === this.host.party }));
      this.message.textContent = '';
    } catch (e: any) {
      if (seq !== this.checkSeq) return this.conflicts;
      this.conflicts = [];
      this.message.textContent = `cannot check: ${e.message}`;
    }
    this.renderConflicts();
    return this.conflicts;
  }

  private renderConflicts() {
    const preview: Extent[] = [];
    for (const c of this.conflicts) if (c.intent.extents) preview.push(...c.intent.extents);
    this.host.map.setPreview(preview);
    this.conflictsBox.dataset.state = 'done';
    this.conflictsBox.dataset.count = String(this.conflicts.length);
    if (!this.conflicts.length) {
      this.conflictsBox.replaceChildren(
        el('p', { class: 'muted' }, this.host.map.draftFootprints().length ? 'none: no declared intent meets this volume' : 'draw a shape first'),
      );
      return;
    }
    this.conflictsBox.replaceChildren(
      el('p', { class: 'crit' }, `${this.conflicts.length} intent(s) meet this declaration:`),
      el(
        'ul',
        {},
        ...this.conflicts.map(({ intent: i, own }) => {
          const input = el('input', {
            class: 'mono',
            placeholder: `OVN from ${i.manager}`,
            value: this.givenOvns.get(i.id) || '',
            'data-testid': 'ovn-input',
            size: 22,
          });
          input.addEventListener('input', () => this.givenOvns.set(i.id, input.value.trim()));
          return el(
            'li',
            { 'data-testid': 'draft-conflict', 'data-id': i.id, 'data-manager': i.manager },
            el('span', { class: 'swatch', style: `background:${partyCss(i.manager)}` }),
            el('b', {}, i.manager),
            ` ${short(i.id)} ${i.state} ${fmtTime(i.time_start)}–${fmtTime(i.time_end).slice(11)}`,
            i.extents ? '' : el('span', { class: 'muted' }, ' (geometry unknown)'),
            el('br'),
            own ? el('span', { class: 'muted' }, 'yours: its OVN is added to the key') : input,
          );
        }),
      ),
    );
  }

  // ------------------------------------------------------------ writes

  async send() {
    const extents = this.draftExtents();
    if (!extents.length) {
      this.message.textContent = 'Draw a polygon or a circle first.';
      return;
    }
    const conflicts = await this.check();
    const key: string[] = [];
    for (const c of conflicts) {
      const ovn = c.own ? c.intent.ovn : this.givenOvns.get(c.intent.id);
      if (ovn) key.push(ovn);
    }
    const url = this.host.ussBaseUrl();
    const id = this.editId ?? uuid4();
    const old = this.editId ? this.host.store.intents.get(this.editId) : undefined;
    const body: any = { extents: extents.map(extentToWire), key, state: this.state.value, uss_base_url: url };
    if (old?.subscription_id && !/^0{8}-/.test(old.subscription_id)) body.subscription_id = old.subscription_id;
    else body.new_subscription = { uss_base_url: url, notify_for_constraints: true };
    const path = old ? `/dss/v1/operational_intent_references/${id}/${old.ovn}` : `/dss/v1/operational_intent_references/${id}`;
    this.sendBtn.disabled = true;
    const seenBefore = this.host.lastSeq() + 1;
    try {
      const r = await this.host.api.put<any>(path, body);
      const ref = intentFromReference(r.operational_intent_reference);
      ref.extents = extents;
      if (old) this.host.store.clearConflictsOf(id, seenBefore);
      this.host.store.putIntent(ref);
      // The implicit subscription follows the intent's volumes.
      if (body.new_subscription && ref.subscription_id) {
        const t = { start: Math.min(...extents.map((e) => e.start ?? 0)), end: Math.max(...extents.map((e) => e.end ?? 0)) };
        this.host.store.subscriptions.set(ref.subscription_id, { id: ref.subscription_id, extents, time_start: t.start, time_end: t.end, implicit: true });
        this.host.store.persist();
        this.host.store.changed('subscriptions');
      }
      this.message.className = 'message ok';
      this.message.textContent = `Declared ${short(id)} (version ${ref.version}); ${r.subscribers?.length ?? 0} subscriber(s) to notify.`;
      this.reset();
      this.host.select(id);
      this.host.afterWrite();
    } catch (e: any) {
      this.message.className = 'message error';
      if (e instanceof ApiError && e.status === 409) {
        const missing = e.body?.missing_operational_intents || [];
        this.message.textContent = `Refused: the key lacks the OVN of ${missing.map((m: any) => `${m.manager}'s ${short(m.id)}`).join(', ') || 'intersecting entities'}. Ask its manager for the OVN.`;
      } else {
        this.message.textContent = `Refused: ${e.message}`;
      }
    } finally {
      this.sendBtn.disabled = false;
    }
  }

  async endIntent(i: Intent) {
    if (!i.ovn) {
      this.message.textContent = 'The OVN of this intent is not known; move the map over it to query it.';
      return;
    }
    try {
      await this.host.api.del(`/dss/v1/operational_intent_references/${i.id}/${i.ovn}`);
      this.host.store.removeIntent(i.id);
      this.message.className = 'message ok';
      this.message.textContent = `Ended ${short(i.id)}.`;
      this.host.select(null);
      this.host.afterWrite();
    } catch (e: any) {
      this.message.className = 'message error';
      this.message.textContent = `Cannot end: ${e.message}`;
    }
  }
}
