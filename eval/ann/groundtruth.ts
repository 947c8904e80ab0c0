import type { Metric } from '../../src/engine/types.ts';
import { exactKnn } from '../../src/index/exact.ts';
import { SeededRng } from './synthetic.ts';

/** Exact ground truth: `ids` is nq * k base row indices (= labels), nearest first, -1 where fewer than k exist. */
export interface GroundTruth {
  ids: Int32Array;
  nq: number;
  k: number;
}

export function computeGroundTruth(
  base: Float32Array,
  n: number,
  dim: number,
  queries: Float32Array,
  nq: number,
  k: number,
  metric: Metric,
  opts: { allow?: Uint8Array; onProgress?: (done: number, total: number) => void } = {},
): GroundTruth {
  const { ids } = exactKnn(base, n, dim, queries, nq, k, metric, opts);
  return { ids, nq, k };
}

/** Keeps the first k columns of a wider ground truth (e.g. TEXMEX's top-100). */
export function truncateGroundTruth(ids: Int32Array, nq: number, width: number, k: number): GroundTruth {
  if (k > width) throw new Error(`ground truth has ${width} neighbours per query; k=${k} needs at least ${k}`);
  const out = new Int32Array(nq * k);
  for (let q = 0; q < nq; q++) out.set(ids.subarray(q * width, q * width + k), q * k);
  return { ids: out, nq, k };
}

/**
 * Mean recall@k: for each query, |returned top-k ∩ true top-k| / (number of true neighbours, at most k).
 * Queries whose true set is empty (nothing allowed) count as 1 when nothing is returned, else 0.
 */
export function recallAtK(results: ArrayLike<ArrayLike<number>>, gt: GroundTruth, k: number = gt.k): number {
  if (k > gt.k) throw new Error(`recall@${k} needs ground truth with at least ${k} neighbours (has ${gt.k})`);
  if (results.length !== gt.nq) throw new Error(`${results.length} result lists for ${gt.nq} queries`);
  let sum = 0;
  const truth = new Set<number>();
  for (let q = 0; q < gt.nq; q++) {
    truth.clear();
    for (let r = 0; r < k; r++) {
      const id = gt.ids[q * gt.k + r];
      if (id >= 0) truth.add(id);
    }
    const got = results[q];
    const m = Math.min(k, got.length);
    if (truth.size === 0) {
      sum += m === 0 ? 1 : 0;
      continue;
    }
    let hit = 0;
    const seen = new Set<number>();
    for (let r = 0; r < m; r++) {
      const id = got[r];
      if (truth.has(id) && !seen.has(id)) hit++;
      seen.add(id);
    }
    sum += hit / truth.size;
  }
  // Rounded to 1e-9 so that a recall of exactly 0.95 compares as >= 0.95 despite float summation.
  return gt.nq === 0 ? 0 : Math.round((sum / gt.nq) * 1e9) / 1e9;
}

/**
 * A random attribute with the given selectivity: exactly round(selectivity * n) of the labels [0, n) are chosen
 * (seeded partial Fisher-Yates; at least 1). Returns the sorted labels and a byte mask over [0, n).
 */
export function randomAllowSet(n: number, selectivity: number, seed: number): { labels: Uint32Array; mask: Uint8Array } {
  if (!(selectivity > 0 && selectivity <= 1)) throw new Error(`selectivity must be in (0, 1] (got ${selectivity})`);
  const count = Math.max(1, Math.min(n, Math.round(selectivity * n)));
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const rng = new SeededRng(seed);
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(n - i);
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  const labels = perm.slice(0, count).sort();
  const mask = new Uint8Array(n);
  for (const l of labels) mask[l] = 1;
  return { labels, mask };
}
