// Small helpers shared by the views.

/// Creates an element: el('div.cls#id', {attr: v}, children...).
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, any> = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c);
  }
  return e;
}

export function $(sel: string): HTMLElement {
  const e = document.querySelector(sel);
  if (!e) throw new Error(`no element ${sel}`);
  return e as HTMLElement;
}

/// A stable colour per party (hue from a hash of the name), so the same
/// party has the same colour on every operator's screen.
const partyColours = new Map<string, [number, number, number]>();
export function partyRgb(party: string): [number, number, number] {
  let c = partyColours.get(party);
  if (!c) {
    let h = 2166136261;
    for (let i = 0; i < party.length; i++) {
      h ^= party.charCodeAt(i);
      h = Math.imul(h, 16777619);
    }
    // Golden-angle steps keep neighbouring hashes apart.
    const hue = ((h >>> 0) * 137.508) % 360;
    c = hslToRgb(hue, 0.7, 0.42);
    partyColours.set(party, c);
  }
  return c;
}

export function partyCss(party: string, alpha = 1): string {
  const [r, g, b] = partyRgb(party);
  return `rgba(${r},${g},${b},${alpha})`;
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const k = (n: number) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [Math.round(f(0) * 255), Math.round(f(8) * 255), Math.round(f(4) * 255)];
}

export function fmtTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  return d.toISOString().replace('T', ' ').slice(0, 16) + 'Z';
}

export function fmtClock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19) + 'Z';
}

export function fmtDuration(s: number | null | undefined): string {
  if (s === null || s === undefined || !isFinite(s)) return '—';
  const sign = s < 0 ? '−' : '';
  s = Math.abs(s);
  if (s < 90) return `${sign}${Math.round(s)} s`;
  if (s < 5400) return `${sign}${Math.round(s / 60)} min`;
  return `${sign}${(s / 3600).toFixed(1)} h`;
}

export function fmtAlt(m: number | null): string {
  if (m === null || !isFinite(m)) return m !== null && m > 0 ? '+∞' : '−∞';
  return `${Math.round(m)} m`;
}

export function uuid4(): string {
  return crypto.randomUUID();
}

/// `datetime-local` inputs speak local time without a zone.
export function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}
export function fromLocalInput(s: string): number {
  return new Date(s).getTime();
}
