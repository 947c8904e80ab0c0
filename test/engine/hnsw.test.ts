import { beforeAll, describe, expect, it } from 'vitest';
import { EngineError, HnswIndex, LabelSet } from '../../src/engine/index.ts';
import { clustered, exactKnn, readFvecs, recallAt, SHARED_DATA } from '../helpers/siftsmall.ts';

const DIM = 128;
const N = 3000;
const Q = 60;
let base: Float32Array;
let queries: Float32Array;
let index: HnswIndex;

const labelsUpTo = (n: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => i);
const query = (i: number): Float32Array => queries.subarray(i * DIM, (i + 1) * DIM);

function meanRecall(idx: HnswIndex, truth: (qi: number) => number[], opts: Parameters<HnswIndex['search']>[2] = {}): number {
  let sum = 0;
  for (let i = 0; i < Q; i++) sum += recallAt(idx.search(query(i), 10, opts).labels, truth(i));
  return sum / Q;
}

beforeAll(() => {
  base = readFvecs(`${SHARED_DATA}siftsmall/base.fvecs`, N).data;
  queries = readFvecs(`${SHARED_DATA}siftsmall/query.fvecs`, Q).data;
  index = new HnswIndex({ dim: DIM, metric: 'l2', m: 16, efConstruction: 100, seed: 7 });
  index.addBatch(labelsUpTo(N), base);
});

describe('HNSW on a siftsmall subset', () => {
  it('reaches recall@10 >= 0.95 at the default efSearch', () => {
    const truth = (qi: number): number[] => exactKnn(base, DIM, query(qi), 10);
    expect(meanRecall(index, truth)).toBeGreaterThanOrEqual(0.95);
  });

  it('keeps the graph invariants: degree bounds, no self links, links to live labels, entry on the top layer', () => {
    expect(index.checkInvariants()).toEqual([]);
    const s = index.stats();
    expect(s.count).toBe(N);
    expect(s.maxDegreeLevel0).toBeLessThanOrEqual(32);
    expect(s.meanDegreeLevel0).toBeGreaterThan(4);
    expect(s.nodesPerLevel[0]).toBe(N);
    expect(s.nodesPerLevel.length).toBe(s.maxLevel + 1);
    // mL = 1/ln(m): about 1/16 of the nodes reach layer 1
    expect(s.nodesPerLevel[1] / N).toBeGreaterThan(0.03);
    expect(s.nodesPerLevel[1] / N).toBeLessThan(0.1);
    expect(s.bytes.total).toBeGreaterThan(N * DIM * 4);
  });

  it('is deterministic for a seed', () => {
    const a = new HnswIndex({ dim: DIM, metric: 'l2', efConstruction: 40, seed: 3 });
    const b = new HnswIndex({ dim: DIM, metric: 'l2', efConstruction: 40, seed: 3 });
    a.addBatch(labelsUpTo(800), base.subarray(0, 800 * DIM));
    b.addBatch(labelsUpTo(800), base.subarray(0, 800 * DIM));
    for (let i = 0; i < 10; i++) expect(Array.from(a.search(query(i), 10).labels)).toEqual(Array.from(b.search(query(i), 10).labels));
    expect(a.stats().nodesPerLevel).toEqual(b.stats().nodesPerLevel);
  });

  it('returns nearest first with squared L2 distances', () => {
    const r = index.search(query(0), 10);
    expect(r.labels.length).toBe(10);
    for (let i = 1; i < 10; i++) expect(r.distances[i]).toBeGreaterThanOrEqual(r.distances[i - 1]);
    const v = index.getVector(r.labels[0]);
    let d = 0;
    for (let j = 0; j < DIM; j++) d += (v[j] - query(0)[j]) ** 2;
    expect(r.distances[0]).toBeCloseTo(d, 0);
  });

  it('a larger efSearch never lowers recall much and a per-query override works', () => {
    const truth = (qi: number): number[] => exactKnn(base, DIM, query(qi), 10);
    const low = meanRecall(index, truth, { efSearch: 10 });
    const high = meanRecall(index, truth, { efSearch: 200 });
    expect(high).toBeGreaterThanOrEqual(0.99);
    expect(high).toBeGreaterThanOrEqual(low);
  });

  for (const selectivity of [0.01, 0.1, 0.5]) {
    it(`filtered search at ${selectivity * 100} % selectivity: only allowed labels, recall@10 >= 0.95`, () => {
      let s = 12345;
      const allow = new LabelSet(N);
      for (let i = 0; i < N; i++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        if (s / 4294967296 < selectivity) allow.add(i);
      }
      const truth = (qi: number): number[] => exactKnn(base, DIM, query(qi), 10, 'l2', (l) => allow.has(l));
      for (let i = 0; i < 5; i++) for (const l of index.search(query(i), 10, { filter: allow }).labels) expect(allow.has(l)).toBe(true);
      expect(meanRecall(index, truth, { filter: allow })).toBeGreaterThanOrEqual(0.95);
      // each path on its own: the exact scan is exact, and the filtered graph walk holds recall too
      expect(meanRecall(index, truth, { filter: allow, filterStrategy: 'exact' })).toBe(1);
      if (selectivity >= 0.1) expect(meanRecall(index, truth, { filter: allow, filterStrategy: 'graph' })).toBeGreaterThanOrEqual(0.95);
      if (selectivity >= 0.1) expect(meanRecall(index, truth, { filter: allow, filterStrategy: 'two-hop', efSearch: 100 })).toBeGreaterThanOrEqual(0.95);
    });
  }

  it('the WebAssembly layer-0 search and the TypeScript one return the same results on the same graph', () => {
    // A LabelSet filter runs layer 0 in WebAssembly; any other has()/size object runs the TypeScript loop.
    const allow = new LabelSet(N);
    for (let i = 0; i < N; i += 3) allow.add(i);
    const plain = { size: allow.size, has: (l: number) => allow.has(l) };
    for (const filterStrategy of ['graph', 'two-hop'] as const) {
      for (let i = 0; i < 20; i++) {
        const a = index.search(query(i), 10, { filter: allow, filterStrategy, efSearch: 40 });
        const b = index.search(query(i), 10, { filter: plain, filterStrategy, efSearch: 40 });
        expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
        expect(Array.from(a.distances)).toEqual(Array.from(b.distances));
      }
    }
  });

  it('grows from a tiny capacity with sparse labels inserted out of order', () => {
    const idx = new HnswIndex({ dim: DIM, metric: 'l2', capacity: 1, efConstruction: 60 });
    const labels = Array.from({ length: 400 }, (_, i) => ((i * 7919) % 400) * 5 + 3);
    for (let i = 0; i < labels.length; i++) idx.add(labels[i], base.subarray(i * DIM, (i + 1) * DIM));
    expect(idx.size).toBe(400);
    expect(idx.checkInvariants()).toEqual([]);
    for (let i = 0; i < 400; i += 40) expect(idx.search(base.subarray(i * DIM, (i + 1) * DIM), 1).labels[0]).toBe(labels[i]);
    expect(Array.from(idx.labels())).toEqual([...labels].sort((a, b) => a - b));
  });

  it('filters given as any object with has() and size work too, and an empty filter returns nothing', () => {
    const even = { size: N / 2, has: (l: number) => l % 2 === 0 };
    for (const l of index.search(query(1), 10, { filter: even }).labels) expect(l % 2).toBe(0);
    expect(index.search(query(1), 10, { filter: new LabelSet() }).labels.length).toBe(0);
  });
});

describe('deletes and updates', () => {
  it('after deleting 30 % of the points, recall@10 on the rest stays >= 0.95 without a rebuild', () => {
    const idx = new HnswIndex({ dim: DIM, metric: 'l2', efConstruction: 100, seed: 11 });
    idx.addBatch(labelsUpTo(N), base);
    const deleted = new Set<number>();
    for (let i = 0; i < N; i++) if ((i * 7919) % 10 < 3) deleted.add(i);
    for (const l of deleted) idx.delete(l);
    idx.consolidate();
    expect(idx.size).toBe(N - deleted.size);
    expect(idx.checkInvariants()).toEqual([]);
    expect(idx.stats().deletedPending).toBe(0);
    const truth = (qi: number): number[] => exactKnn(base, DIM, query(qi), 10, 'l2', (l) => !deleted.has(l));
    for (let i = 0; i < Q; i++) for (const l of idx.search(query(i), 10).labels) expect(deleted.has(l)).toBe(false);
    expect(meanRecall(idx, truth)).toBeGreaterThanOrEqual(0.95);
  });

  it('a deleted label disappears from results at once, before consolidation, and can be added again', () => {
    const idx = new HnswIndex({ dim: DIM, metric: 'l2', efConstruction: 60 });
    idx.addBatch(labelsUpTo(500), base.subarray(0, 500 * DIM));
    const target = base.subarray(42 * DIM, 43 * DIM);
    expect(idx.search(target, 1).labels[0]).toBe(42);
    idx.delete(42);
    expect(idx.has(42)).toBe(false);
    expect(idx.stats().deletedPending).toBe(1);
    expect(Array.from(idx.search(target, 10).labels)).not.toContain(42);
    idx.add(42, target);
    expect(idx.search(target, 1).labels[0]).toBe(42);
    expect(idx.checkInvariants()).toEqual([]);
  });

  it('update replaces a vector: it is found by its new value and no longer by its old one', () => {
    const idx = new HnswIndex({ dim: DIM, metric: 'l2', efConstruction: 60 });
    idx.addBatch(labelsUpTo(500), base.subarray(0, 500 * DIM));
    const newVec = base.subarray(700 * DIM, 701 * DIM);
    idx.update(5, newVec);
    expect(idx.search(newVec, 1).labels[0]).toBe(5);
    expect(idx.search(base.subarray(5 * DIM, 6 * DIM), 1).labels[0]).not.toBe(5);
    expect(idx.size).toBe(500);
    expect(idx.checkInvariants()).toEqual([]);
    // the entry point can be updated too
    const entry = idx.stats().entryPoint!;
    idx.update(entry, base.subarray(800 * DIM, 801 * DIM));
    expect(idx.search(base.subarray(800 * DIM, 801 * DIM), 1).labels[0]).toBe(entry);
    expect(idx.checkInvariants()).toEqual([]);
  });

  it('deleting everything leaves an empty, usable index', () => {
    const idx = new HnswIndex({ dim: 8, metric: 'l2' });
    const v = clustered(100, 8, 5);
    idx.addBatch(labelsUpTo(100), v);
    for (let i = 0; i < 100; i++) idx.delete(i);
    idx.consolidate();
    expect(idx.size).toBe(0);
    expect(idx.search(v.subarray(0, 8), 5).labels.length).toBe(0);
    idx.add(3, v.subarray(0, 8));
    expect(Array.from(idx.search(v.subarray(0, 8), 5).labels)).toEqual([3]);
    expect(idx.checkInvariants()).toEqual([]);
  });
});

describe('metrics', () => {
  for (const metric of ['cosine', 'ip'] as const) {
    it(`${metric}: results match brute force and distances follow hnswlib's convention`, () => {
      const dim = 32;
      let v = clustered(1500, dim, 21);
      if (metric === 'ip') {
        // inner-product search is meaningful on normalised data (as for embeddings); normalise here
        v = v.slice();
        for (let i = 0; i < 1500; i++) {
          const row = v.subarray(i * dim, (i + 1) * dim);
          const n = Math.hypot(...row);
          for (let j = 0; j < dim; j++) row[j] /= n;
        }
      }
      const idx = new HnswIndex({ dim, metric });
      idx.addBatch(labelsUpTo(1500), v);
      const qs = clustered(20, dim, 99);
      let sum = 0;
      for (let i = 0; i < 20; i++) {
        const q = qs.subarray(i * dim, (i + 1) * dim);
        const r = idx.search(q, 10);
        sum += recallAt(r.labels, exactKnn(v, dim, q, 10, metric));
        if (metric === 'cosine') {
          const a = idx.getVector(r.labels[0]);
          const qn = Math.hypot(...q);
          let dot = 0;
          for (let j = 0; j < dim; j++) dot += a[j] * q[j];
          expect(r.distances[0]).toBeCloseTo(1 - dot / qn, 4);
          expect(Math.hypot(...a)).toBeCloseTo(1, 5);
        }
      }
      expect(sum / 20).toBeGreaterThanOrEqual(0.95);
    });
  }
});

describe('bad input gets a clear error and leaves the index unchanged', () => {
  function fresh(): HnswIndex {
    const idx = new HnswIndex({ dim: 4, metric: 'cosine' });
    idx.addBatch([0, 1, 2], new Float32Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]));
    return idx;
  }
  function expectError(fn: () => unknown, code: string, pattern: RegExp): void {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).code).toBe(code);
      expect((err as Error).message).toMatch(pattern);
      return;
    }
    throw new Error('expected an EngineError');
  }

  it('rejects each bad input and the index still answers the same way', () => {
    const idx = fresh();
    const before = idx.serialize();
    expectError(() => idx.add(3, [1, 2, 3]), 'DIMENSION_MISMATCH', /3 dimensions, the index has 4/);
    expectError(() => idx.add(3, [1, NaN, 0, 0]), 'INVALID_VECTOR', /vector\[1\] is NaN/);
    expectError(() => idx.add(3, [1, Infinity, 0, 0]), 'INVALID_VECTOR', /Infinity/);
    expectError(() => idx.add(3, [1e39, 0, 0, 0]), 'INVALID_VECTOR', /finite float32/);
    expectError(() => idx.add(3, [0, 0, 0, 0]), 'INVALID_VECTOR', /zero vector/);
    expectError(() => idx.add(1, [1, 1, 0, 0]), 'DUPLICATE_LABEL', /label 1 is already/);
    expectError(() => idx.add(-1, [1, 1, 0, 0]), 'INVALID_ARGUMENT', /label must be an integer/);
    expectError(() => idx.add(1.5, [1, 1, 0, 0]), 'INVALID_ARGUMENT', /label must be an integer/);
    expectError(() => idx.search([1, 0, 0, 0], 0), 'INVALID_ARGUMENT', /k must be a positive integer/);
    expectError(() => idx.search([1, 0, 0, 0], -3), 'INVALID_ARGUMENT', /k must be a positive integer/);
    expectError(() => idx.search([1, 0, 0], 1), 'DIMENSION_MISMATCH', /query has 3 dimensions/);
    expectError(() => idx.search([1, 0, 0, 0], 1, { efSearch: 0 }), 'INVALID_ARGUMENT', /efSearch/);
    expectError(() => idx.delete(9), 'UNKNOWN_LABEL', /label 9 is not in the index/);
    expectError(() => idx.update(9, [1, 0, 0, 0]), 'UNKNOWN_LABEL', /label 9/);
    expectError(() => idx.update(0, [NaN, 0, 0, 0]), 'INVALID_VECTOR', /NaN/);
    // a batch with one bad row inserts nothing
    expectError(() => idx.addBatch([5, 6], new Float32Array([1, 0, 0, 0, 0, NaN, 0, 0])), 'INVALID_VECTOR', /vectors\[1\]\[1\]/);
    expectError(() => idx.addBatch([5, 5], new Float32Array([1, 0, 0, 0, 0, 1, 0, 0])), 'DUPLICATE_LABEL', /twice/);
    expectError(() => idx.addBatch([5, 6], new Float32Array([1, 0, 0, 0])), 'DIMENSION_MISMATCH', /expected 2 x 4/);
    expect(idx.size).toBe(3);
    expect(Buffer.from(idx.serialize()).equals(Buffer.from(before))).toBe(true);
  });

  it('rejects bad options', () => {
    expectError(() => new HnswIndex({ dim: 4, metric: 'hamming' as never }), 'INVALID_ARGUMENT', /unknown metric "hamming"/);
    expectError(() => new HnswIndex({ dim: 0, metric: 'l2' }), 'INVALID_ARGUMENT', /dim/);
    expectError(() => new HnswIndex({ dim: 4, metric: 'l2', m: 1 }), 'INVALID_ARGUMENT', /m must be between 2 and 256/);
    expectError(() => new HnswIndex({ dim: 4, metric: 'l2', efConstruction: 2.5 }), 'INVALID_ARGUMENT', /efConstruction/);
    expectError(() => new HnswIndex({ dim: 4, metric: 'l2', kernels: 'gpu' as never }), 'INVALID_ARGUMENT', /kernels/);
  });
});

describe('the TypeScript kernels', () => {
  it('build a graph of the same quality as the SIMD kernels', () => {
    const idx = new HnswIndex({ dim: DIM, metric: 'l2', efConstruction: 100, seed: 7, kernels: 'js' });
    idx.addBatch(labelsUpTo(1500), base.subarray(0, 1500 * DIM));
    expect(idx.kernels).toBe('js');
    const sub = base.subarray(0, 1500 * DIM);
    const truth = (qi: number): number[] => exactKnn(sub, DIM, query(qi), 10);
    expect(meanRecall(idx, truth)).toBeGreaterThanOrEqual(0.95);
  });
});
