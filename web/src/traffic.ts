// Live traffic drawn straight onto a canvas: thousands of aircraft, their
// velocity leaders and the alert lines between them are a few paths per
// colour, rebuilt every frame from flat arrays of projected coordinates.
// (As OpenLayers features they cost over half a second to build at 5,000
// aircraft and 15,000 alerts; this way an update is a few milliseconds and
// the map pans at full frame rate.)

import Layer from 'ol/layer/Layer';
import type { FrameState } from 'ol/Map';
import { fromLonLat } from 'ol/proj';
import ViewHint from 'ol/ViewHint';
import { invert, multiply, type Transform } from 'ol/transform';
import { partyCss } from './util';
import type { Filter } from './model';

export interface Aircraft {
  aircraft_id: string;
  party: string | null;
  callsign: string | null;
  age_s: number;
  lat_deg: number;
  lon_deg: number;
  alt_m: number;
  east_mps: number;
  north_mps: number;
  vs_mps: number;
}

export interface Alert {
  aircraft_a: string;
  aircraft_b: string;
  party_a: string | null;
  party_b: string | null;
  kind: 'conflict' | 'loss_of_separation';
  tcpa_s: number;
  dcpa_m: number;
  distance_m: number;
  altitude_difference_m: number;
}

/// An aircraft outside the volumes of the operational intent it flies
/// (`GET /v1/traffic/nonconformances`).
export interface NonConformance {
  aircraft_id: string;
  operational_intent: string;
  owner: string;
  since: string;
  lat_deg: number;
  lon_deg: number;
  alt_m: number;
  horizontal_outside_m: number;
  vertical_outside_m: number;
  time_outside_s: number;
}

/// Colour of the non-conformance marker: unlike any party colour or alert.
export const NONCONFORMING_CSS = '#c000c0';

/// Seconds of flight a velocity leader shows.
const LEADER_S = 60;
/// Above this many aircraft in view, labels are left off (they cost more to
/// draw than everything else together and cannot be read anyway).
export const MAX_LABELS = 400;

interface Group {
  colour: string;
  idx: number[]; // aircraft indices
}

export class TrafficLayer extends Layer {
  private canvas = document.createElement('canvas');
  /// The picture as last drawn in full, and the transform it was drawn with:
  /// while the view moves, it is only moved and scaled (like OpenLayers'
  /// image layers), and drawn again in full once the view rests.
  private cache = document.createElement('canvas');
  private cacheTransform: Transform | null = null;
  private dirty = true;
  // Projected position and leader end of each aircraft drawn.
  private xy = new Float64Array(0);
  private lead = new Float64Array(0);
  private labels: string[] = [];
  private los = new Uint8Array(0);
  private offPlan = new Uint8Array(0);
  private groups: Group[] = [];
  private conflictLines = new Float64Array(0); // x1,y1,x2,y2,…
  private losLines = new Float64Array(0);
  showLabels = true;
  count = 0;

  constructor() {
    super({ zIndex: 21 });
    this.canvas.style.position = 'absolute';
    this.canvas.style.pointerEvents = 'none';
  }

  /// Replaces the picture; returns the number of aircraft drawn.
  setTraffic(aircraft: Aircraft[], alerts: Alert[], nonconforming: Set<string>, f: Filter): number {
    const shown = aircraft.filter((a) => (f.lower === null || a.alt_m >= f.lower) && (f.upper === null || a.alt_m <= f.upper));
    const n = shown.length;
    this.xy = new Float64Array(2 * n);
    this.lead = new Float64Array(2 * n);
    this.los = new Uint8Array(n);
    this.offPlan = new Uint8Array(n);
    this.labels = new Array(n);
    const index = new Map<string, number>();
    const byColour = new Map<string, number[]>();
    const inLos = new Set<string>();
    for (const a of alerts)
      if (a.kind === 'loss_of_separation') {
        inLos.add(a.aircraft_a);
        inLos.add(a.aircraft_b);
      }
    shown.forEach((a, i) => {
      const [x, y] = fromLonLat([a.lon_deg, a.lat_deg]);
      // Web Mercator stretches distances by 1/cos(lat).
      const k = LEADER_S / Math.cos((a.lat_deg * Math.PI) / 180);
      this.xy[2 * i] = x;
      this.xy[2 * i + 1] = y;
      this.lead[2 * i] = x + a.east_mps * k;
      this.lead[2 * i + 1] = y + a.north_mps * k;
      this.los[i] = inLos.has(a.aircraft_id) ? 1 : 0;
      this.offPlan[i] = nonconforming.has(a.aircraft_id) ? 1 : 0;
      const fl = Math.max(0, Math.round(a.alt_m / 0.3048 / 100));
      const off = this.offPlan[i] ? ' OFF PLAN' : '';
      this.labels[i] = `${a.callsign || a.aircraft_id} FL${String(fl).padStart(3, '0')}${a.party ? ' ' + a.party : ''}${off}`;
      index.set(a.aircraft_id, i);
      const colour = a.party ? partyCss(a.party) : '#333';
      let g = byColour.get(colour);
      if (!g) byColour.set(colour, (g = []));
      g.push(i);
    });
    this.groups = [...byColour].map(([colour, idx]) => ({ colour, idx }));
    const lines = (kind: string) => {
      const sel = alerts.filter((a) => a.kind === kind && index.has(a.aircraft_a) && index.has(a.aircraft_b));
      const out = new Float64Array(4 * sel.length);
      sel.forEach((a, j) => {
        const p = index.get(a.aircraft_a)!;
        const q = index.get(a.aircraft_b)!;
        out.set([this.xy[2 * p], this.xy[2 * p + 1], this.xy[2 * q], this.xy[2 * q + 1]], 4 * j);
      });
      return out;
    };
    this.conflictLines = lines('conflict');
    this.losLines = lines('loss_of_separation');
    this.count = n;
    this.dirty = true;
    this.changed();
    return n;
  }

  render(fs: FrameState): HTMLElement {
    const [w, h] = fs.size;
    const r = fs.pixelRatio;
    const c = this.canvas;
    for (const k of [c, this.cache])
      if (k.width !== Math.round(w * r) || k.height !== Math.round(h * r)) {
        k.width = Math.round(w * r);
        k.height = Math.round(h * r);
        this.dirty = true;
      }
    c.style.width = `${w}px`;
    c.style.height = `${h}px`;
    const moving = fs.viewHints[ViewHint.ANIMATING] > 0 || fs.viewHints[ViewHint.INTERACTING] > 0;
    if (this.dirty || !moving || !this.cacheTransform) {
      this.draw(fs);
      this.cacheTransform = fs.coordinateToPixelTransform.slice() as Transform;
      this.dirty = false;
    }
    // Cached pixels → current pixels: T_now ∘ T_cached⁻¹ (in CSS pixels,
    // scaled by the pixel ratio on both sides).
    const t = multiply(fs.coordinateToPixelTransform.slice() as Transform, invert(this.cacheTransform.slice() as Transform));
    const g = c.getContext('2d')!;
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, c.width, c.height);
    g.setTransform(t[0], t[1], t[2], t[3], t[4] * r, t[5] * r);
    g.drawImage(this.cache, 0, 0);
    g.setTransform(1, 0, 0, 1, 0, 0);
    return c;
  }

  /// Draws everything onto the cache canvas for this frame's view.
  private draw(fs: FrameState) {
    const r = fs.pixelRatio;
    const c = this.cache;
    const g = c.getContext('2d')!;
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, c.width, c.height);
    // Map coordinates → device pixels, as one affine transform.
    const [a, b, cc, d, e, f] = fs.coordinateToPixelTransform;
    const px = (x: number, y: number): [number, number] => [(a * x + cc * y + e) * r, (b * x + d * y + f) * r];
    const W = c.width;
    const H = c.height;
    const inside = (p: [number, number]) => p[0] > -50 && p[1] > -50 && p[0] < W + 50 && p[1] < H + 50;

    const strokeLines = (ls: Float64Array, colour: string, width: number) => {
      if (!ls.length) return;
      g.strokeStyle = colour;
      g.lineWidth = width * r;
      // Paths of a few hundred segments: one huge path costs the
      // rasterizer far more than many small ones.
      for (let start = 0; start < ls.length; start += 4 * 256) {
        g.beginPath();
        for (let i = start; i < Math.min(ls.length, start + 4 * 256); i += 4) {
          const p = px(ls[i], ls[i + 1]);
          const q = px(ls[i + 2], ls[i + 3]);
          g.moveTo(p[0], p[1]);
          g.lineTo(q[0], q[1]);
        }
        g.stroke();
      }
    };
    strokeLines(this.conflictLines, 'rgba(242,140,0,0.85)', 1.5);
    strokeLines(this.losLines, '#e00', 3);

    const visible: number[] = [];
    const groups: Group[] = [];
    for (const grp of this.groups)
      for (let k = 0; k < grp.idx.length; k += 256) groups.push({ colour: grp.colour, idx: grp.idx.slice(k, k + 256) });
    for (const grp of groups) {
      g.beginPath();
      for (const i of grp.idx) {
        const p = px(this.xy[2 * i], this.xy[2 * i + 1]);
        if (!inside(p)) continue;
        const q = px(this.lead[2 * i], this.lead[2 * i + 1]);
        g.moveTo(p[0], p[1]);
        g.lineTo(q[0], q[1]);
      }
      g.strokeStyle = grp.colour;
      g.lineWidth = 1.2 * r;
      g.stroke();
      g.beginPath();
      for (const i of grp.idx) {
        const p = px(this.xy[2 * i], this.xy[2 * i + 1]);
        if (!inside(p)) continue;
        visible.push(i);
        g.moveTo(p[0] + 3.5 * r, p[1]);
        g.arc(p[0], p[1], 3.5 * r, 0, 2 * Math.PI);
      }
      g.fillStyle = grp.colour;
      g.fill();
    }
    // Losses of separation: a red ring around each aircraft involved.
    g.beginPath();
    for (let i = 0; i < this.count; i++) {
      if (!this.los[i]) continue;
      const p = px(this.xy[2 * i], this.xy[2 * i + 1]);
      g.moveTo(p[0] + 8 * r, p[1]);
      g.arc(p[0], p[1], 8 * r, 0, 2 * Math.PI);
    }
    g.strokeStyle = '#e00';
    g.lineWidth = 2.5 * r;
    g.stroke();
    // Non-conforming (outside the volumes of its operational intent): a
    // dashed square, so that it reads apart from a loss of separation.
    g.beginPath();
    for (let i = 0; i < this.count; i++) {
      if (!this.offPlan[i]) continue;
      const p = px(this.xy[2 * i], this.xy[2 * i + 1]);
      g.rect(p[0] - 11 * r, p[1] - 11 * r, 22 * r, 22 * r);
    }
    g.setLineDash([4 * r, 3 * r]);
    g.strokeStyle = NONCONFORMING_CSS;
    g.lineWidth = 2.5 * r;
    g.stroke();
    g.setLineDash([]);

    if (this.showLabels && visible.length <= MAX_LABELS) {
      g.font = `${11 * r}px sans-serif`;
      g.textBaseline = 'bottom';
      g.lineWidth = 3 * r;
      g.strokeStyle = 'rgba(255,255,255,0.85)';
      g.fillStyle = '#111';
      for (const i of visible) {
        const p = px(this.xy[2 * i], this.xy[2 * i + 1]);
        g.strokeText(this.labels[i], p[0] + 7 * r, p[1] - 4 * r);
        g.fillText(this.labels[i], p[0] + 7 * r, p[1] - 4 * r);
      }
    }
  }
}
