// What the operator's screen knows about the declared airspace, and the two
// JSON forms of a volume it meets: the standard's (F3548-21 Volume4D, used
// to declare and query) and the service's internal one (carried by events).
//
// The DSS query answers with references (id, manager, state, time bounds)
// but no geometry: the geometry of other parties' intents is learned from
// the event stream (`operational_intent`, `strategic_conflict` events), and
// that of the viewer's own intents and subscriptions from its own writes
// (kept in localStorage so that a reload can still edit them).

export type LngLat = [number, number]; // [lng, lat] degrees

export interface Extent {
  polygon?: LngLat[]; // outer ring, not closed
  circle?: { center: LngLat; radius_m: number };
  lower: number | null; // metres, WGS84; null: unbounded
  upper: number | null;
  start: number | null; // ms since the epoch; null: unbounded
  end: number | null;
}

export interface Intent {
  id: string;
  manager: string;
  version: number;
  state: string;
  ovn?: string; // only the viewer's own
  uss_base_url?: string;
  subscription_id?: string;
  extents: Extent[] | null; // null: known only by reference
  time_start: number | null;
  time_end: number | null;
}

export interface Overlap {
  rings: LngLat[][];
  lower: number | null;
  upper: number | null;
  start: number | null;
  end: number | null;
}

/// A strategic conflict between one of the viewer's intents and another
/// party's, with the exact overlap the service computed.
export interface Conflict {
  ours: string;
  theirs: string;
  other_party: string;
  overlaps: Overlap[];
  seq: number;
}

export interface Constraint {
  id: string;
  manager: string;
  version: number;
  extents: Extent[] | null;
  time_start: number | null;
  time_end: number | null;
}

export interface Subscription {
  id: string;
  extents: Extent[] | null;
  time_start: number | null;
  time_end: number | null;
  implicit: boolean;
}

// ------------------------------------------------------------ conversions

const ms = (t: string | null | undefined): number | null => (t ? Date.parse(t) : null);

/// The service's internal Volume4D (events) → Extent.
export function extentFromInternal(v: any): Extent {
  const fp = v.footprint || {};
  const e: Extent = {
    lower: v.altitude?.lower_m ?? null,
    upper: v.altitude?.upper_m ?? null,
    start: ms(v.time?.start),
    end: ms(v.time?.end),
  };
  if (fp.Polygon) e.polygon = fp.Polygon.vertices.map((p: any) => [p.lng, p.lat] as LngLat);
  else if (fp.Circle)
    e.circle = { center: [fp.Circle.center.lng, fp.Circle.center.lat], radius_m: fp.Circle.radius_m };
  return e;
}

/// Extent → the standard's Volume4D.
export function extentToWire(e: Extent): any {
  const volume: any = {};
  if (e.polygon) volume.outline_polygon = { vertices: e.polygon.map(([lng, lat]) => ({ lat, lng })) };
  else if (e.circle)
    volume.outline_circle = {
      center: { lat: e.circle.center[1], lng: e.circle.center[0] },
      radius: { value: e.circle.radius_m, units: 'M' },
    };
  if (e.lower !== null) volume.altitude_lower = { value: e.lower, reference: 'W84', units: 'M' };
  if (e.upper !== null) volume.altitude_upper = { value: e.upper, reference: 'W84', units: 'M' };
  const out: any = { volume };
  if (e.start !== null) out.time_start = { value: new Date(e.start).toISOString(), format: 'RFC3339' };
  if (e.end !== null) out.time_end = { value: new Date(e.end).toISOString(), format: 'RFC3339' };
  return out;
}

export function overlapFromInternal(o: any): Overlap {
  return {
    rings: (o.footprint || []).map((ring: any[]) => ring.map((p) => [p.lng, p.lat] as LngLat)),
    lower: o.altitude?.lower_m ?? null,
    upper: o.altitude?.upper_m ?? null,
    start: ms(o.time?.start),
    end: ms(o.time?.end),
  };
}

export function intentFromSummary(s: any): Intent {
  const extents = (s.extents || []).map(extentFromInternal);
  const { start, end } = timeBounds(extents);
  return {
    id: s.id,
    manager: s.manager,
    version: s.version,
    state: s.state,
    uss_base_url: s.uss_base_url,
    extents,
    time_start: start,
    time_end: end,
  };
}

/// A reference from the DSS query.
export function intentFromReference(r: any): Intent {
  const ovn = r.ovn && r.ovn !== 'Available from USS' && !r.ovn.startsWith('Available') ? r.ovn : undefined;
  return {
    id: r.id,
    manager: r.manager,
    version: r.version,
    state: r.state,
    ovn,
    uss_base_url: r.uss_base_url,
    subscription_id: r.subscription_id,
    extents: null,
    time_start: ms(r.time_start?.value),
    time_end: ms(r.time_end?.value),
  };
}

export function timeBounds(extents: Extent[]): { start: number | null; end: number | null } {
  let start: number | null = Infinity;
  let end: number | null = -Infinity;
  for (const e of extents) {
    start = e.start === null || start === null ? null : Math.min(start, e.start);
    end = e.end === null || end === null ? null : Math.max(end, e.end);
  }
  return { start: start === Infinity ? null : start, end: end === -Infinity ? null : end };
}

// ------------------------------------------------------------ filters

export interface Filter {
  at: number; // ms
  lower: number | null;
  upper: number | null;
}

export function activeAt(start: number | null, end: number | null, t: number): boolean {
  return (start === null || start <= t) && (end === null || t < end);
}

export function bandOverlaps(lo: number | null, hi: number | null, f: Filter): boolean {
  const a = lo ?? -Infinity;
  const b = hi ?? Infinity;
  return a <= (f.upper ?? Infinity) && b >= (f.lower ?? -Infinity);
}

export function extentVisible(e: { start: number | null; end: number | null; lower: number | null; upper: number | null }, f: Filter) {
  return activeAt(e.start, e.end, f.at) && bandOverlaps(e.lower, e.upper, f);
}

/// Rough bounding box [minLng, minLat, maxLng, maxLat] of an extent.
export function extentBbox(e: Extent): [number, number, number, number] {
  if (e.polygon) {
    let a = Infinity,
      b = Infinity,
      c = -Infinity,
      d = -Infinity;
    for (const [x, y] of e.polygon) {
      a = Math.min(a, x);
      b = Math.min(b, y);
      c = Math.max(c, x);
      d = Math.max(d, y);
    }
    return [a, b, c, d];
  }
  const { center, radius_m } = e.circle!;
  const dLat = radius_m / 111_320;
  const dLng = dLat / Math.max(0.01, Math.cos((center[1] * Math.PI) / 180));
  return [center[0] - dLng, center[1] - dLat, center[0] + dLng, center[1] + dLat];
}

// ------------------------------------------------------------ the store

type Listener = (what: 'intents' | 'conflicts' | 'constraints' | 'subscriptions') => void;

export class Store {
  intents = new Map<string, Intent>();
  conflicts = new Map<string, Conflict>(); // key `${ours}|${theirs}`
  constraints = new Map<string, Constraint>();
  subscriptions = new Map<string, Subscription>();
  /// Ids returned by the last query of the area in view.
  inView = new Set<string>();
  private listeners: Listener[] = [];
  private pending = new Set<Parameters<Listener>[0]>();
  private scheduled = false;

  constructor(public party: string) {}

  on(l: Listener) {
    this.listeners.push(l);
  }

  /// Coalesces bursts (thousands of events at connection) into one update
  /// per animation frame.
  changed(what: Parameters<Listener>[0]) {
    this.pending.add(what);
    if (this.scheduled) return;
    this.scheduled = true;
    const flush = () => {
      this.scheduled = false;
      const p = [...this.pending];
      this.pending.clear();
      for (const w of p) for (const l of this.listeners) l(w);
    };
    if (document.visibilityState === 'hidden') setTimeout(flush, 0);
    else requestAnimationFrame(flush);
  }

  /// An intent learned with its geometry (event or own write). Keeps the
  /// OVN and subscription we may already know; ignores stale versions.
  putIntent(i: Intent) {
    const old = this.intents.get(i.id);
    if (old && old.version > i.version) return;
    if (old) {
      i.ovn = i.ovn ?? (old.version === i.version ? old.ovn : undefined);
      i.subscription_id = i.subscription_id ?? old.subscription_id;
      i.extents = i.extents ?? (old.version === i.version ? old.extents : null);
      if (!i.extents && old.extents) i.extents = old.extents; // geometry of an older version beats none
    }
    this.intents.set(i.id, i);
    if (i.manager === this.party) this.persist();
    this.changed('intents');
  }

  /// A reference from a query: updates what it says, keeps known geometry.
  putReference(r: Intent) {
    const old = this.intents.get(r.id);
    if (old) {
      const sameVersion = old.version === r.version;
      old.state = r.state;
      old.version = r.version;
      old.ovn = r.ovn ?? (sameVersion ? old.ovn : undefined);
      old.subscription_id = r.subscription_id ?? old.subscription_id;
      old.time_start = r.time_start;
      old.time_end = r.time_end;
      old.uss_base_url = r.uss_base_url;
    } else {
      this.intents.set(r.id, r);
    }
  }

  removeIntent(id: string) {
    this.intents.delete(id);
    let c = false;
    for (const [k, v] of this.conflicts) {
      if (v.ours === id || v.theirs === id) {
        this.conflicts.delete(k);
        c = true;
      }
    }
    this.persist();
    this.changed('intents');
    if (c) this.changed('conflicts');
  }

  putConflict(c: Conflict) {
    this.conflicts.set(`${c.ours}|${c.theirs}`, c);
    this.changed('conflicts');
  }

  /// Forgets the conflicts of an intent told before `beforeSeq`: after an
  /// update the service tells the current ones again (with higher seqs,
  /// possibly before the write's own answer arrives).
  clearConflictsOf(id: string, beforeSeq = Infinity) {
    for (const [k, v] of this.conflicts)
      if ((v.ours === id || v.theirs === id) && v.seq < beforeSeq) this.conflicts.delete(k);
    this.changed('conflicts');
  }

  conflictsOf(id: string): Conflict[] {
    const out: Conflict[] = [];
    for (const c of this.conflicts.values()) if (c.ours === id || c.theirs === id) out.push(c);
    return out;
  }

  own(): Intent[] {
    return [...this.intents.values()].filter((i) => i.manager === this.party);
  }

  // Own intents and subscriptions survive a reload (their geometry is not
  // in any query answer).
  private key() {
    return `deconflict.own.${this.party}`;
  }

  persist() {
    try {
      const own = this.own();
      const subs = [...this.subscriptions.values()].filter((s) => s.extents);
      localStorage.setItem(this.key(), JSON.stringify({ intents: own, subscriptions: subs }));
    } catch {
      /* storage full or unavailable: the session still works */
    }
  }

  restore() {
    try {
      const raw = localStorage.getItem(this.key());
      if (!raw) return;
      const saved = JSON.parse(raw);
      for (const i of saved.intents || []) this.intents.set(i.id, i);
      for (const s of saved.subscriptions || []) this.subscriptions.set(s.id, s);
      this.changed('intents');
      this.changed('subscriptions');
    } catch {
      /* ignore a corrupt entry */
    }
  }
}
