// The state of the record, checked in the browser: the checkpoint's
// Ed25519 signature (signed-note format, with the key from /v1/log/key) and,
// when an earlier checkpoint was seen, the consistency proof from it to the
// new one (RFC 9162 §2.1.4.2), so that the log the viewer relies on only
// ever grows.

import type { Api } from './api';

export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array<ArrayBuffer>;
  text: string; // the signed body
  signatures: { name: string; keyHash: number; sig: Uint8Array<ArrayBuffer> }[];
}

export interface RecordState {
  size: number;
  fetchedAt: number;
  signature: 'verified' | 'failed' | 'unsupported';
  consistency: 'verified' | 'failed' | 'first' | 'same';
  origin: string;
  error?: string;
}

const b64 = (s: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const toB64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));

export function parseNote(note: string): Checkpoint {
  const split = note.indexOf('\n\n');
  if (split < 0) throw new Error('checkpoint: no signature block');
  const text = note.slice(0, split + 1);
  const lines = text.split('\n');
  const [origin, sizeStr, rootStr] = lines;
  const signatures = note
    .slice(split + 2)
    .split('\n')
    .filter((l) => l.startsWith('\u2014 '))
    .map((l) => {
      const [, name, sig] = l.split(' ');
      const raw = b64(sig);
      const keyHash = new DataView(raw.buffer).getUint32(0);
      return { name, keyHash, sig: raw.slice(4) };
    });
  return { origin, size: Number(sizeStr), root: b64(rootStr), text, signatures };
}

/// `<name>+<hex hash>+<base64(0x01 ‖ key)>`
export function parseVerifierKey(k: string) {
  // The name and the hash contain no '+'; the base64 key may.
  const m = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(k.trim());
  if (!m) throw new Error('record key: not <name>+<hash>+<key>');
  const raw = b64(m[3]);
  if (raw[0] !== 1 || raw.length !== 33) throw new Error('record key: not an Ed25519 key');
  return { name: m[1], keyHash: parseInt(m[2], 16), key: raw.slice(1) };
}

async function sha256(...parts: Uint8Array[]): Promise<Uint8Array> {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', all));
}

const nodeHash = (l: Uint8Array, r: Uint8Array) => sha256(Uint8Array.of(1), l, r);
const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

export async function verifySignature(cp: Checkpoint, keyText: string): Promise<boolean> {
  const k = parseVerifierKey(keyText);
  const sig = cp.signatures.find((s) => s.name === k.name && s.keyHash === k.keyHash);
  if (!sig) return false;
  const key = await crypto.subtle.importKey('raw', k.key, { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'Ed25519' }, key, sig.sig, new TextEncoder().encode(cp.text));
}

/// RFC 9162 §2.1.4.2, as crates/ledger implements it.
export async function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: Uint8Array[],
): Promise<boolean> {
  if (oldSize > newSize || oldSize === 0) return false;
  if (oldSize === newSize) return proof.length === 0 && eq(oldRoot, newRoot);
  const pow2 = (oldSize & (oldSize - 1)) === 0 && oldSize < 2 ** 31;
  const [seed, rest] = pow2 ? [oldRoot, proof] : [proof[0], proof.slice(1)];
  if (!seed) return false;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = seed;
  let sr = seed;
  for (const c of rest) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && eq(fr, oldRoot) && eq(sr, newRoot);
}

/// Fetches the checkpoint and checks it; remembers the last verified one
/// (per origin) to prove the next one consistent with it.
export async function checkRecord(api: Api): Promise<RecordState> {
  const [keyText, note] = await Promise.all([api.get<string>('/v1/log/key'), api.get<string>('/v1/log/checkpoint')]);
  const fetchedAt = Date.now();
  const cp = parseNote(note);
  let signature: RecordState['signature'];
  try {
    signature = (await verifySignature(cp, keyText)) ? 'verified' : 'failed';
  } catch {
    signature = 'unsupported'; // a browser without WebCrypto Ed25519
  }
  const storeKey = `deconflict.record.${cp.origin}`;
  let consistency: RecordState['consistency'] = 'first';
  const prevRaw = localStorage.getItem(storeKey);
  if (prevRaw) {
    const prev = JSON.parse(prevRaw) as { size: number; root: string };
    if (prev.size === cp.size) consistency = toB64(cp.root) === prev.root ? 'same' : 'failed';
    else if (prev.size > cp.size || prev.size === 0) consistency = prev.size === 0 ? 'first' : 'failed';
    else {
      const p = await api.get<any>(`/v1/log/proof/consistency?from=${prev.size}&to=${cp.size}`);
      const ok = await verifyConsistency(prev.size, cp.size, b64(prev.root), cp.root, p.hashes.map(b64));
      consistency = ok ? 'verified' : 'failed';
    }
  }
  if (signature !== 'failed' && consistency !== 'failed')
    localStorage.setItem(storeKey, JSON.stringify({ size: cp.size, root: toB64(cp.root) }));
  return { size: cp.size, fetchedAt, signature, consistency, origin: cp.origin };
}
