// The timeline below the map: the intents in view over the next 24 hours,
// packed into lanes, coloured by party, with their conflicts marked in red
// and the time the map shows as a vertical line. Drawn on one canvas so
// that ten thousand bars stay cheap.

import type { Intent, Conflict } from './model';
import { partyCss } from './util';

const HOUR = 3_600_000;
const LANE_H = 9;
const AXIS_H = 18;

interface Bar {
  id: string;
  lane: number;
  start: number;
  end: number;
  manager: string;
  own: boolean;
}

export class Timeline {
  private ctx: CanvasRenderingContext2D;
  private bars: Bar[] = [];
  private conflicts: { lane: number; start: number; end: number }[] = [];
  private lanes = 0;
  private scroll = 0; // in lanes
  from = Date.now();
  span = 24 * HOUR;
  cursor = Date.now();
  selected: string | null = null;
  onPick: (t: number, id: string | null) => void = () => {};

  constructor(private canvas: HTMLCanvasElement) {
    this.ctx = canvas.getContext('2d')!;
    new ResizeObserver(() => this.draw()).observe(canvas);
    canvas.addEventListener('click', (ev) => {
      const r = canvas.getBoundingClientRect();
      const x = ev.clientX - r.left;
      const y = ev.clientY - r.top;
      const t = this.from + (x / r.width) * this.span;
      const lane = Math.floor((y - AXIS_H) / LANE_H) + this.scroll;
      const bar = y > AXIS_H ? this.bars.find((b) => b.lane === lane && b.start <= t && t < b.end) : undefined;
      this.onPick(t, bar ? bar.id : null);
    });
    canvas.addEventListener(
      'wheel',
      (ev) => {
        ev.preventDefault();
        const visible = Math.floor((canvas.clientHeight - AXIS_H) / LANE_H);
        this.scroll = Math.max(0, Math.min(this.lanes - visible, this.scroll + Math.sign(ev.deltaY) * 3));
        this.draw();
      },
      { passive: false },
    );
  }

  /// Lays out the intents: sorted by start, each in the first lane free at
  /// its start (interval partitioning, optimal in lanes).
  set(intents: Intent[], conflicts: Conflict[], party: string) {
    const now = Date.now();
    this.from = now;
    const to = now + this.span;
    const items = intents
      .map((i) => ({ i, s: Math.max(i.time_start ?? now, now), e: Math.min(i.time_end ?? to, to) }))
      .filter((x) => x.e > x.s)
      .sort((a, b) => a.s - b.s);
    // Free lanes by the time they free up: a min-heap of [end, lane].
    const heap: [number, number][] = [];
    const push = (x: [number, number]) => {
      heap.push(x);
      for (let k = heap.length - 1; k > 0; ) {
        const p = (k - 1) >> 1;
        if (heap[p][0] <= heap[k][0]) break;
        [heap[p], heap[k]] = [heap[k], heap[p]];
        k = p;
      }
    };
    const pop = () => {
      const top = heap[0];
      const last = heap.pop()!;
      if (heap.length) {
        heap[0] = last;
        for (let k = 0; ; ) {
          const l = 2 * k + 1;
          const r = l + 1;
          let m = k;
          if (l < heap.length && heap[l][0] < heap[m][0]) m = l;
          if (r < heap.length && heap[r][0] < heap[m][0]) m = r;
          if (m === k) break;
          [heap[m], heap[k]] = [heap[k], heap[m]];
          k = m;
        }
      }
      return top;
    };
    let lanes = 0;
    const laneOf = new Map<string, number>();
    this.bars = items.map(({ i, s, e }) => {
      const lane = heap.length && heap[0][0] <= s ? pop()[1] : lanes++;
      push([e, lane]);
      laneOf.set(i.id, lane);
      return { id: i.id, lane, start: s, end: e, manager: i.manager, own: i.manager === party };
    });
    this.lanes = lanes;
    this.conflicts = [];
    for (const c of conflicts)
      for (const o of c.overlaps)
        for (const id of [c.ours, c.theirs]) {
          const lane = laneOf.get(id);
          if (lane !== undefined) this.conflicts.push({ lane, start: o.start ?? now, end: o.end ?? to });
        }
    this.scroll = Math.min(this.scroll, Math.max(0, this.lanes - 1));
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = this.ctx;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const x = (t: number) => ((t - this.from) / this.span) * w;
    // Axis: every hour, labelled every three.
    g.fillStyle = '#f6f7f9';
    g.fillRect(0, 0, w, AXIS_H);
    g.font = '10px sans-serif';
    g.fillStyle = '#555';
    g.strokeStyle = '#e3e5ea';
    const firstHour = Math.ceil(this.from / HOUR) * HOUR;
    for (let t = firstHour; t < this.from + this.span; t += HOUR) {
      const px = Math.round(x(t)) + 0.5;
      g.beginPath();
      g.moveTo(px, AXIS_H);
      g.lineTo(px, h);
      g.stroke();
      if (new Date(t).getUTCHours() % 3 === 0) g.fillText(new Date(t).toISOString().slice(11, 16) + 'Z', px + 2, 12);
    }
    const visible = Math.floor((h - AXIS_H) / LANE_H);
    const y = (lane: number) => AXIS_H + (lane - this.scroll) * LANE_H;
    for (const b of this.bars) {
      if (b.lane < this.scroll || b.lane >= this.scroll + visible) continue;
      g.fillStyle = partyCss(b.manager, b.own ? 0.9 : 0.6);
      g.fillRect(x(b.start), y(b.lane) + 1, Math.max(1, x(b.end) - x(b.start)), LANE_H - 2);
      if (b.id === this.selected) {
        g.strokeStyle = '#000';
        g.lineWidth = 2;
        g.strokeRect(x(b.start), y(b.lane) + 1, Math.max(1, x(b.end) - x(b.start)), LANE_H - 2);
        g.lineWidth = 1;
      }
    }
    g.fillStyle = 'rgba(220,0,0,0.9)';
    for (const k of this.conflicts) {
      if (k.lane < this.scroll || k.lane >= this.scroll + visible) continue;
      g.fillRect(x(k.start), y(k.lane) + 2, Math.max(2, x(k.end) - x(k.start)), LANE_H - 4);
    }
    // The moment the map shows.
    g.strokeStyle = '#0a58ff';
    g.lineWidth = 2;
    g.beginPath();
    g.moveTo(x(this.cursor), 0);
    g.lineTo(x(this.cursor), h);
    g.stroke();
    g.lineWidth = 1;
    const more = this.lanes > visible ? `, lanes ${this.scroll + 1}–${Math.min(this.lanes, this.scroll + visible)} of ${this.lanes} (scroll)` : '';
    const label = `${this.bars.length} intents in view, next 24 h${more}`;
    g.fillStyle = 'rgba(246,247,249,0.95)';
    g.fillRect(0, 0, g.measureText(label).width + 10, AXIS_H - 1);
    g.fillStyle = '#333';
    g.fillText(label, 4, 12);
  }
}
