import type { Metric } from '../engine/types.ts';

/**
 * Exact k-nearest-neighbour scans on row-major Float32Arrays: the ground truth for the ANN benchmark and the
 * search of the `flat` backend. Tight loops, float64 accumulators, four-way unrolled. Distances follow hnswlib:
 * l2 = squared L2, ip = 1 - dot; for cosine, normalise rows and queries first and use ip.
 */

export function l2sq(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < dim; j += 4) {
    const d0 = a[aOff + j] - b[bOff + j];
    const d1 = a[aOff + j + 1] - b[bOff + j + 1];
    const d2 = a[aOff + j + 2] - b[bOff + j + 2];
    const d3 = a[aOff + j + 3] - b[bOff + j + 3];
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; j < dim; j++) {
    const d = a[aOff + j] - b[bOff + j];
    s0 += d * d;
  }
  return s0 + s1 + s2 + s3;
}

export function dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < dim; j += 4) {
    s0 += a[aOff + j] * b[bOff + j];
    s1 += a[aOff + j + 1] * b[bOff + j + 1];
    s2 += a[aOff + j + 2] * b[bOff + j + 2];
    s3 += a[aOff + j + 3] * b[bOff + j + 3];
  }
  for (; j < dim; j++) s0 += a[aOff + j] * b[bOff + j];
  return s0 + s1 + s2 + s3;
}

/** Normalises each row of a row-major matrix to unit length, in place. Zero rows stay zero. */
export function normalizeRows(data: Float32Array, rows: number, dim: number): Float32Array {
  for (let i = 0; i < rows; i++) {
    const off = i * dim;
    const n = Math.sqrt(dot(data, off, data, off, dim));
    if (n > 0) {
      const inv = 1 / n;
      for (let j = 0; j < dim; j++) data[off + j] *= inv;
    }
  }
  return data;
}

/** A bounded, sorted top-k list (nearest first). Ties keep the earlier-inserted entry first. */
export class TopK {
  readonly ids: Int32Array;
  readonly dists: Float64Array;
  count = 0;
  constructor(readonly k: number) {
    this.ids = new Int32Array(k);
    this.dists = new Float64Array(k);
  }
  reset(): void {
    this.count = 0;
  }
  /** Distance an entry must beat to get in. */
  get bound(): number {
    return this.count < this.k ? Infinity : this.dists[this.k - 1];
  }
  push(id: number, d: number): void {
    const { ids, dists, k } = this;
    let i: number;
    if (this.count < k) {
      i = this.count++;
    } else {
      if (d >= dists[k - 1]) return;
      i = k - 1;
    }
    while (i > 0 && dists[i - 1] > d) {
      dists[i] = dists[i - 1];
      ids[i] = ids[i - 1];
      i--;
    }
    dists[i] = d;
    ids[i] = id;
  }
}

/**
 * Scans rows [0, n) of `data` for the k nearest to `query` (row `qRow` of `queries`) into `top`.
 * `metric` here is the kernel: 'l2' or 'ip' (pass 'ip' for cosine with normalised data).
 * `allow`, when given, is a byte mask over rows: rows with 0 are skipped.
 */
export function scanRows(
  data: Float32Array,
  n: number,
  dim: number,
  queries: Float32Array,
  qRow: number,
  kernel: 'l2' | 'ip',
  top: TopK,
  allow?: Uint8Array,
): void {
  top.reset();
  const qOff = qRow * dim;
  let bound = Infinity;
  if (kernel === 'l2') {
    for (let i = 0; i < n; i++) {
      if (allow !== undefined && allow[i] === 0) continue;
      const d = l2sq(data, i * dim, queries, qOff, dim);
      if (d < bound) {
        top.push(i, d);
        bound = top.bound;
      }
    }
  } else {
    for (let i = 0; i < n; i++) {
      if (allow !== undefined && allow[i] === 0) continue;
      const d = 1 - dot(data, i * dim, queries, qOff, dim);
      if (d < bound) {
        top.push(i, d);
        bound = top.bound;
      }
    }
  }
}

export interface ExactKnnResult {
  /** nq * k row indices into `base`, nearest first; -1 pads rows with fewer than k candidates. */
  ids: Int32Array;
  /** nq * k distances (hnswlib conventions); NaN where `ids` is -1. */
  distances: Float32Array;
  k: number;
}

/**
 * Exact k-NN of every query against the first `n` rows of `base`, optionally restricted to the rows with a
 * non-zero byte in `allow`. `base` and `queries` are not modified (cosine works on normalised copies).
 */
export function exactKnn(
  base: Float32Array,
  n: number,
  dim: number,
  queries: Float32Array,
  nq: number,
  k: number,
  metric: Metric,
  opts: { allow?: Uint8Array; onProgress?: (done: number, total: number) => void } = {},
): ExactKnnResult {
  let data = base;
  let qs = queries;
  if (metric === 'cosine') {
    data = normalizeRows(base.slice(0, n * dim), n, dim);
    qs = normalizeRows(queries.slice(0, nq * dim), nq, dim);
  }
  const kernel = metric === 'l2' ? 'l2' : 'ip';
  const ids = new Int32Array(nq * k).fill(-1);
  const distances = new Float32Array(nq * k).fill(NaN);
  const top = new TopK(k);
  const every = Math.max(1, Math.floor(nq / 20));
  for (let q = 0; q < nq; q++) {
    scanRows(data, n, dim, qs, q, kernel, top, opts.allow);
    for (let r = 0; r < top.count; r++) {
      ids[q * k + r] = top.ids[r];
      distances[q * k + r] = top.dists[r];
    }
    if (opts.onProgress && ((q + 1) % every === 0 || q + 1 === nq)) opts.onProgress(q + 1, nq);
  }
  return { ids, distances, k };
}
