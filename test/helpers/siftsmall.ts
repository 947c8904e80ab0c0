import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SHARED_DATA = fileURLToPath(new URL('../../../shared/data/', import.meta.url));

/** Reads a TEXMEX .fvecs file (int32 d, then d float32 per row). */
export function readFvecs(path: string, limit = Infinity): { n: number; dim: number; data: Float32Array } {
  const buf = readFileSync(path);
  const dim = buf.readInt32LE(0);
  const n = Math.min(limit, buf.length / (4 + 4 * dim));
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const row = i * (4 + 4 * dim) + 4;
    for (let j = 0; j < dim; j++) data[i * dim + j] = buf.readFloatLE(row + 4 * j);
  }
  return { n, dim, data };
}

/** Exact k nearest labels under squared L2, cosine or ip distance, by brute force in float64. */
export function exactKnn(
  base: Float32Array,
  dim: number,
  query: ArrayLike<number>,
  k: number,
  metric: 'l2' | 'ip' | 'cosine' = 'l2',
  allow: (label: number) => boolean = () => true,
): number[] {
  const n = base.length / dim;
  const scored: [number, number][] = [];
  let qn = 0;
  for (let j = 0; j < dim; j++) qn += query[j] * query[j];
  qn = Math.sqrt(qn);
  for (let i = 0; i < n; i++) {
    if (!allow(i)) continue;
    let s = 0;
    let bn = 0;
    for (let j = 0; j < dim; j++) {
      const b = base[i * dim + j];
      if (metric === 'l2') {
        const d = query[j] - b;
        s += d * d;
      } else {
        s += query[j] * b;
        bn += b * b;
      }
    }
    const dist = metric === 'l2' ? s : metric === 'ip' ? 1 - s : 1 - s / (qn * Math.sqrt(bn));
    scored.push([dist, i]);
  }
  scored.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return scored.slice(0, k).map(([, i]) => i);
}

export function recallAt(found: ArrayLike<number>, truth: number[]): number {
  const t = new Set(truth);
  let hit = 0;
  for (let i = 0; i < found.length; i++) if (t.has(found[i])) hit++;
  return hit / truth.length;
}

/** Seeded Gaussian-ish clustered vectors for tests that need other dimensions than SIFT's. */
export function clustered(n: number, dim: number, seed = 1, clusters = 20): Float32Array {
  let s = seed >>> 0;
  const rnd = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const centres = Array.from({ length: clusters }, () => Array.from({ length: dim }, () => gauss() * 3));
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = centres[Math.floor(rnd() * clusters)];
    for (let j = 0; j < dim; j++) out[i * dim + j] = c[j] + gauss();
  }
  return out;
}
