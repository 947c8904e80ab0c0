import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { matchedRatios } from '../../eval/ann/bench.ts';
import { loadDataset } from '../../eval/ann/dataset.ts';
import { computeGroundTruth, randomAllowSet, recallAtK, truncateGroundTruth } from '../../eval/ann/groundtruth.ts';
import { generateSynthetic, parseSyntheticSpec, SeededRng } from '../../eval/ann/synthetic.ts';
import type { Metric } from '../../src/engine/types.ts';
import { TopK } from '../../src/index/exact.ts';

const SIFT = join(import.meta.dirname, '../../../shared/data/siftsmall');

/** A deliberately naive reference: every distance in a plain array, then a full sort (ties by index). */
function naiveKnn(base: Float32Array, n: number, dim: number, q: Float32Array, k: number, metric: Metric, allow?: Uint8Array): number[] {
  const norm = (v: Float32Array, off: number) => Math.hypot(...v.subarray(off, off + dim));
  const all: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    if (allow && !allow[i]) continue;
    let d = 0;
    if (metric === 'l2') for (let j = 0; j < dim; j++) d += (base[i * dim + j] - q[j]) ** 2;
    else {
      let dot = 0;
      for (let j = 0; j < dim; j++) dot += base[i * dim + j] * q[j];
      d = metric === 'ip' ? 1 - dot : 1 - dot / (norm(base, i * dim) * norm(q, 0));
    }
    all.push([d, i]);
  }
  all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return all.slice(0, k).map((x) => x[1]);
}

describe('synthetic generator', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = generateSynthetic({ n: 500, dim: 24, queries: 20, seed: 7 });
    const b = generateSynthetic({ n: 500, dim: 24, queries: 20, seed: 7 });
    const c = generateSynthetic({ n: 500, dim: 24, queries: 20, seed: 8 });
    expect(Buffer.from(a.base.buffer).equals(Buffer.from(b.base.buffer))).toBe(true);
    expect(Buffer.from(a.queries.buffer).equals(Buffer.from(b.queries.buffer))).toBe(true);
    expect(Buffer.from(a.base.buffer).equals(Buffer.from(c.base.buffer))).toBe(false);
    expect(a.base.length).toBe(500 * 24);
    expect(a.queries.length).toBe(20 * 24);
    expect(a.base.every(Number.isFinite)).toBe(true);
    // Queries are not copies of base points.
    expect(Buffer.from(a.queries.subarray(0, 24).buffer.slice(0, 96)).equals(Buffer.from(a.base.buffer.slice(0, 96)))).toBe(false);
  });

  it('is clustered: nearest neighbours are much closer than random pairs', () => {
    const s = generateSynthetic({ n: 2000, dim: 32, queries: 50, seed: 1 });
    const gt = computeGroundTruth(s.base, s.n, s.dim, s.queries, s.nq, 1, 'l2');
    const rng = new SeededRng(5);
    let nn = 0;
    let rand = 0;
    for (let q = 0; q < s.nq; q++) {
      const qi = s.queries.subarray(q * 32, q * 32 + 32);
      const near = gt.ids[q];
      const r = rng.int(s.n);
      for (let j = 0; j < 32; j++) {
        nn += (s.base[near * 32 + j] - qi[j]) ** 2;
        rand += (s.base[r * 32 + j] - qi[j]) ** 2;
      }
    }
    expect(nn * 5).toBeLessThan(rand);
  });

  it('parses N:DIM and refuses anything else', () => {
    expect(parseSyntheticSpec('100000:128')).toEqual({ n: 100000, dim: 128 });
    expect(() => parseSyntheticSpec('100000x128')).toThrow(/N:DIM/);
    expect(() => parseSyntheticSpec('0:4')).toThrow(/positive/);
  });
});

describe('exact ground truth', () => {
  it.each(['l2', 'ip', 'cosine'] as const)('matches a naive sort under %s, with and without an allow mask', (metric) => {
    const s = generateSynthetic({ n: 700, dim: 12, queries: 15, seed: 3, metric });
    const allow = randomAllowSet(s.n, 0.05, 11);
    const gt = computeGroundTruth(s.base, s.n, s.dim, s.queries, s.nq, 10, metric);
    const fgt = computeGroundTruth(s.base, s.n, s.dim, s.queries, s.nq, 10, metric, { allow: allow.mask });
    for (let q = 0; q < s.nq; q++) {
      const query = s.queries.subarray(q * 12, q * 12 + 12);
      expect([...gt.ids.subarray(q * 10, q * 10 + 10)]).toEqual(naiveKnn(s.base, s.n, 12, query, 10, metric));
      const f = [...fgt.ids.subarray(q * 10, q * 10 + 10)];
      expect(f).toEqual(naiveKnn(s.base, s.n, 12, query, 10, metric, allow.mask));
      for (const id of f) expect(allow.mask[id]).toBe(1);
    }
  });

  it('pads with -1 when fewer than k points are allowed', () => {
    const s = generateSynthetic({ n: 100, dim: 4, queries: 2, seed: 1 });
    const allow = new Uint8Array(100);
    allow[5] = allow[50] = 1;
    const gt = computeGroundTruth(s.base, 100, 4, s.queries, 2, 4, 'l2', { allow });
    expect([...gt.ids.subarray(0, 4)].sort((a, b) => a - b)).toEqual([-1, -1, 5, 50]);
  });

  it('TopK keeps the k smallest, sorted, first-come on ties', () => {
    const t = new TopK(3);
    for (const [id, d] of [[0, 5], [1, 3], [2, 9], [3, 3], [4, 1], [5, 3]] as const) t.push(id, d);
    expect(t.count).toBe(3);
    expect([...t.ids]).toEqual([4, 1, 3]);
    expect([...t.dists]).toEqual([1, 3, 3]);
  });

  it.skipIf(!existsSync(join(SIFT, 'base.fvecs')))('agrees with the TEXMEX ground truth of siftsmall', () => {
    const ds = loadDataset(SIFT, { queries: 20 });
    const file = truncateGroundTruth(ds.groundTruth!.ids, 20, ds.groundTruth!.width, 10);
    const ours = computeGroundTruth(ds.base, ds.n, ds.dim, ds.queries, 20, 10, 'l2');
    const lists = Array.from({ length: 20 }, (_, q) => ours.ids.subarray(q * 10, q * 10 + 10));
    // Ties in integer SIFT distances may order equal neighbours differently, so compare as sets.
    expect(recallAtK(lists, file)).toBeGreaterThanOrEqual(0.99);
  });
});

describe('recall@k and filters', () => {
  const gt = { ids: new Int32Array([1, 2, 3, 4, 10, 11, 12, 13]), nq: 2, k: 4 };

  it('counts the share of true neighbours returned, per query, averaged', () => {
    expect(recallAtK([[1, 2, 3, 4], [10, 11, 12, 13]], gt)).toBe(1);
    expect(recallAtK([[4, 3, 2, 1], [13, 99, 98, 10]], gt)).toBe(0.75);
    expect(recallAtK([[1, 1, 1, 1], []], gt)).toBe(0.125);
    expect(recallAtK([[1, 2, 9, 9], [10, 11, 12, 13]], gt, 2)).toBe(1);
    // Results beyond k do not count.
    expect(recallAtK([[9, 9, 9, 9, 1], [9, 9, 9, 9, 10]], gt)).toBe(0);
    expect(() => recallAtK([[1]], gt)).toThrow(/2 queries/);
    expect(() => recallAtK([[1], [2]], gt, 5)).toThrow(/at least 5/);
  });

  it('divides by the number of true neighbours when fewer than k exist', () => {
    const few = { ids: new Int32Array([7, -1, -1, -1]), nq: 1, k: 4 };
    expect(recallAtK([[7]], few)).toBe(1);
    expect(recallAtK([[8, 7]], few)).toBe(1);
    expect(recallAtK([[8]], few)).toBe(0);
  });

  it('draws an exact, seeded allow-set', () => {
    const a = randomAllowSet(10000, 0.01, 5);
    expect(a.labels.length).toBe(100);
    expect(a.mask.reduce((s, x) => s + x, 0)).toBe(100);
    expect(new Set(a.labels).size).toBe(100);
    expect([...randomAllowSet(10000, 0.01, 5).labels]).toEqual([...a.labels]);
    expect([...randomAllowSet(10000, 0.01, 6).labels]).not.toEqual([...a.labels]);
    for (let i = 1; i < a.labels.length; i++) expect(a.labels[i]).toBeGreaterThan(a.labels[i - 1]);
    expect(randomAllowSet(10, 0.001, 1).labels.length).toBe(1);
    expect(() => randomAllowSet(10, 0, 1)).toThrow(/selectivity/);
  });

  it('picks the highest-QPS run reaching each recall for the matched ratio', () => {
    const trellis = [
      { ef: 10, recall: 0.91, qps: 1000 },
      { ef: 20, recall: 0.96, qps: 600 },
      { ef: 40, recall: 0.985, qps: 400 },
    ];
    const hnswlib = [
      { ef: 10, recall: 0.85, qps: 900 },
      { ef: 20, recall: 0.95, qps: 500 },
      { ef: 40, recall: 0.995, qps: 200 },
    ];
    const r = matchedRatios(trellis, hnswlib);
    expect(r[0]).toMatchObject({ recall: 0.9, trellis: { ef: 10 }, hnswlib: { ef: 20 }, ratio: 2 });
    expect(r[1]).toMatchObject({ recall: 0.95, trellis: { ef: 20 }, hnswlib: { ef: 20 }, ratio: 1.2 });
    expect(r[2]).toMatchObject({ recall: 0.99, trellis: null, hnswlib: { ef: 40 }, ratio: null });
  });
});
