import { Rng } from '../../src/engine/rng.ts';
import type { Metric } from '../../src/engine/types.ts';

/** mulberry32 with a cached Box-Muller spare: seedable uniforms and standard normals. */
export class SeededRng extends Rng {
  private spare: number | null = null;
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

export interface SyntheticOptions {
  n: number;
  dim: number;
  queries: number;
  seed?: number;
  metric?: Metric;
  /** Mixture components; default round(sqrt(n)) clamped to [8, 512]. */
  clusters?: number;
  /** Rank of each component's spread (real embeddings have low intrinsic dimension); default min(dim, 16). */
  intrinsicDim?: number;
  /** Per-coordinate standard deviation of a component around its centre (centres are N(0, 1)); default 0.35. */
  spread?: number;
}

export interface SyntheticData {
  base: Float32Array;
  queries: Float32Array;
  n: number;
  nq: number;
  dim: number;
  metric: Metric;
  clusters: number;
  intrinsicDim: number;
  seed: number;
}

/**
 * A clustered Gaussian mixture: component c has a centre ~ N(0, I), a random dim×r spread matrix (entries
 * N(0, 0.35²/r), so each point is centre + A_c z with z ~ N(0, I_r)) and isotropic noise N(0, 0.05²); weights are
 * uneven. Queries are drawn from the same mixture on their own random stream. Same options -> same bytes.
 */
export function generateSynthetic(opts: SyntheticOptions): SyntheticData {
  const { n, dim, queries: nq } = opts;
  for (const [k, v] of [['n', n], ['dim', dim], ['queries', nq]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`synthetic ${k} must be a positive integer (got ${v})`);
  }
  const seed = opts.seed ?? 42;
  const clusters = opts.clusters ?? Math.min(512, Math.max(8, Math.round(Math.sqrt(n))));
  const r = Math.min(dim, opts.intrinsicDim ?? 16);
  const rng = new SeededRng(seed);
  const centres = new Float32Array(clusters * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = rng.normal();
  const spread = new Float32Array(clusters * dim * r);
  const scale = (opts.spread ?? 0.35) / Math.sqrt(r);
  for (let i = 0; i < spread.length; i++) spread[i] = rng.normal() * scale;
  const cumulative = new Float64Array(clusters);
  let acc = 0;
  for (let c = 0; c < clusters; c++) {
    acc += 0.5 + rng.next();
    cumulative[c] = acc;
  }
  const pick = (g: SeededRng): number => {
    const u = g.next() * acc;
    let lo = 0;
    let hi = clusters - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const z = new Float64Array(r);
  const fill = (out: Float32Array, rows: number, g: SeededRng): void => {
    for (let i = 0; i < rows; i++) {
      const c = pick(g);
      for (let t = 0; t < r; t++) z[t] = g.normal();
      const cOff = c * dim;
      const aOff = c * dim * r;
      const off = i * dim;
      for (let j = 0; j < dim; j++) {
        let x = centres[cOff + j] + 0.05 * g.normal();
        const row = aOff + j * r;
        for (let t = 0; t < r; t++) x += spread[row + t] * z[t];
        out[off + j] = x;
      }
    }
  };
  const base = new Float32Array(n * dim);
  fill(base, n, new SeededRng((seed ^ 0x9e3779b9) >>> 0));
  const queries = new Float32Array(nq * dim);
  fill(queries, nq, new SeededRng((seed ^ 0x85ebca6b) >>> 0));
  return { base, queries, n, nq, dim, metric: opts.metric ?? 'l2', clusters, intrinsicDim: r, seed };
}

/** Parses `N:DIM` (e.g. `100000:128`). */
export function parseSyntheticSpec(spec: string): { n: number; dim: number } {
  const m = /^(\d+):(\d+)$/.exec(spec.trim());
  if (!m) throw new Error(`--synthetic expects N:DIM, e.g. 100000:128 (got ${JSON.stringify(spec)})`);
  const n = Number(m[1]);
  const dim = Number(m[2]);
  if (n <= 0 || dim <= 0) throw new Error(`--synthetic N and DIM must be positive (got ${spec})`);
  return { n, dim };
}
