import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFvecs } from '../../eval/ann/vecs.ts';
import { SeededRng } from '../../eval/ann/synthetic.ts';
import { EngineError } from '../../src/engine/errors.ts';
import type { Metric } from '../../src/engine/types.ts';
import { exactKnn } from '../../src/index/exact.ts';
import { hnswlibMetaPath } from '../../src/index/hnswlib.ts';
import { BACKENDS, createIndex, createLocalIndex, loadIndex, type BackendName, type VectorIndex } from '../../src/index/index.ts';

/** One contract, three backends. Everything here must hold for trellis, hnswlib and flat alike. */

const DIM = 16;
const N = 600;
const SIFT = join(import.meta.dirname, '../../../shared/data/siftsmall');

function randomVectors(n: number, dim: number, seed: number): Float32Array {
  const rng = new SeededRng(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = rng.normal();
  return out;
}

/** Non-contiguous labels, so that no backend can get away with confusing labels and insertion slots. */
const labelOf = (i: number): number => i * 3 + 5;

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<EngineError> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err, `expected an EngineError ${code}`).toBeInstanceOf(EngineError);
  expect((err as EngineError).code).toBe(code);
  return err as EngineError;
}

function brute(vectors: Float32Array, n: number, query: Float32Array, k: number, metric: Metric, allow?: Uint8Array): number[] {
  const { ids } = exactKnn(vectors, n, DIM, query, 1, k, metric, { allow });
  return [...ids].filter((i) => i >= 0).map(labelOf);
}

function overlap(a: ArrayLike<number>, b: number[]): number {
  const s = new Set(b);
  let hit = 0;
  for (let i = 0; i < a.length; i++) if (s.has(a[i])) hit++;
  return hit / Math.max(1, b.length);
}

describe.each(BACKENDS.map((b) => [b]))('VectorIndex contract: %s', (backend: BackendName) => {
  const vectors = randomVectors(N, DIM, 7);
  const labels = Uint32Array.from({ length: N }, (_, i) => labelOf(i));
  const queries = randomVectors(20, DIM, 99);
  let index: VectorIndex;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `trellis-contract-${backend}-`));
    index = await createIndex(backend, { dim: DIM, metric: 'l2', m: 16, efConstruction: 100, efSearch: 64, seed: 1 });
    await index.add(labels, vectors);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports its shape and size', async () => {
    expect(index.backend).toBe(backend);
    expect(index.dim).toBe(DIM);
    expect(index.metric).toBe('l2');
    expect(index.size).toBe(N);
    const s = await index.stats();
    expect(s.count).toBe(N);
    expect(s.bytes).toBeGreaterThan(N * DIM * 4 * 0.9);
    expect(await index.has(labelOf(10))).toBe(true);
    expect(await index.has(labelOf(10) + 1)).toBe(false);
  });

  it('finds the true nearest neighbours, nearest first, with hnswlib-convention distances', async () => {
    let recall = 0;
    for (let q = 0; q < 20; q++) {
      const query = queries.subarray(q * DIM, (q + 1) * DIM);
      const res = await index.search(query, 10, { efSearch: 100 });
      expect(res.labels.length).toBe(10);
      expect(res.distances.length).toBe(10);
      for (let i = 1; i < 10; i++) expect(res.distances[i]).toBeGreaterThanOrEqual(res.distances[i - 1]);
      // Distance of the first hit is the squared L2 distance to that stored vector.
      const slot = (res.labels[0] - 5) / 3;
      let d = 0;
      for (let j = 0; j < DIM; j++) d += (vectors[slot * DIM + j] - query[j]) ** 2;
      expect(res.distances[0]).toBeCloseTo(d, 3);
      recall += overlap(res.labels, brute(vectors, N, query, 10, 'l2'));
    }
    expect(recall / 20).toBeGreaterThanOrEqual(backend === 'flat' ? 1 : 0.95);
  });

  it('finds a stored vector as its own nearest neighbour', async () => {
    for (const i of [0, 17, 599]) {
      const res = await index.search(vectors.subarray(i * DIM, (i + 1) * DIM), 1);
      expect(res.labels[0]).toBe(labelOf(i));
      expect(res.distances[0]).toBeCloseTo(0, 4);
    }
  });

  it('returns at most size results when k exceeds it, and accepts a per-query efSearch', async () => {
    const small = await createIndex(backend, { dim: DIM, metric: 'l2' });
    expect((await small.search(queries.subarray(0, DIM), 5)).labels.length).toBe(0);
    await small.add([1, 2, 3], vectors.subarray(0, 3 * DIM));
    const res = await small.search(queries.subarray(0, DIM), 10, { efSearch: 5 });
    expect([...res.labels].sort()).toEqual([1, 2, 3]);
  });

  it('filters: only allowed labels come back, and they are the nearest allowed ones', async () => {
    const rng = new SeededRng(3);
    const mask = new Uint8Array(N);
    const allowed = new Set<number>();
    for (let i = 0; i < N; i++) {
      if (rng.next() < 0.1) {
        mask[i] = 1;
        allowed.add(labelOf(i));
      }
    }
    let recall = 0;
    for (let q = 0; q < 20; q++) {
      const query = queries.subarray(q * DIM, (q + 1) * DIM);
      const res = await index.search(query, 10, { filter: allowed, efSearch: 100 });
      expect(res.labels.length).toBe(10);
      for (const l of res.labels) expect(allowed.has(l)).toBe(true);
      recall += overlap(res.labels, brute(vectors, N, query, 10, 'l2', mask));
    }
    expect(recall / 20).toBeGreaterThanOrEqual(backend === 'flat' ? 1 : 0.9);
    // A tiny allow-set returns exactly its members; an empty one returns nothing.
    const two = new Set([labelOf(3), labelOf(400)]);
    const res = await index.search(queries.subarray(0, DIM), 10, { filter: two });
    expect([...res.labels].sort((a, b) => a - b)).toEqual([labelOf(3), labelOf(400)]);
    expect((await index.search(queries.subarray(0, DIM), 10, { filter: new Set<number>() })).labels.length).toBe(0);
  });

  it('refuses bad input with clear errors and leaves the index unchanged', async () => {
    const before = await index.search(queries.subarray(0, DIM), 5);
    const row = (v: number) => new Float32Array(DIM).fill(v);
    await expectCode(index.add([100000], new Float32Array(DIM - 1)), 'DIMENSION_MISMATCH');
    await expectCode(index.add([100000, 100001], new Float32Array(DIM)), 'DIMENSION_MISMATCH');
    const nan = row(1);
    nan[3] = NaN;
    await expectCode(index.add([100000], nan), 'INVALID_VECTOR');
    const inf = row(1);
    inf[0] = Infinity;
    await expectCode(index.add([100000], inf), 'INVALID_VECTOR');
    // A batch with one bad row adds nothing.
    const batch = new Float32Array(3 * DIM).fill(0.5);
    batch[2 * DIM + 1] = NaN;
    await expectCode(index.add([100000, 100001, 100002], batch), 'INVALID_VECTOR');
    await expectCode(index.add([labelOf(0)], row(1)), 'DUPLICATE_LABEL');
    await expectCode(index.add([100000, 100000], new Float32Array(2 * DIM).fill(1)), 'DUPLICATE_LABEL');
    const e = await expectCode(index.add([-1], row(1)), 'INVALID_ARGUMENT');
    expect(e.message).toMatch(/label/);
    await expectCode(index.add([1.5], row(1)), 'INVALID_ARGUMENT');
    await expectCode(index.search(row(1), 0), 'INVALID_ARGUMENT');
    await expectCode(index.search(row(1), -3), 'INVALID_ARGUMENT');
    await expectCode(index.search(row(1), 2.5), 'INVALID_ARGUMENT');
    await expectCode(index.search(new Float32Array(DIM + 1), 5), 'DIMENSION_MISMATCH');
    await expectCode(index.search(row(NaN), 5), 'INVALID_VECTOR');
    await expectCode(index.search(row(1), 5, { efSearch: 0 }), 'INVALID_ARGUMENT');
    await expectCode(index.delete([424242]), 'UNKNOWN_LABEL');
    // A delete batch naming one unknown label deletes nothing.
    await expectCode(index.delete([labelOf(1), 424242]), 'UNKNOWN_LABEL');
    expect(await index.has(labelOf(1))).toBe(true);
    expect(await index.has(100000)).toBe(false);
    expect(index.size).toBe(N);
    const after = await index.search(queries.subarray(0, DIM), 5);
    expect([...after.labels]).toEqual([...before.labels]);
  });

  it('refuses bad options', async () => {
    await expectCode(createIndex(backend, { dim: 0, metric: 'l2' }), 'INVALID_ARGUMENT');
    await expectCode(createIndex(backend, { dim: 4, metric: 'hamming' as Metric }), 'INVALID_ARGUMENT');
    await expectCode(createIndex(backend, { dim: 4, metric: 'l2', m: 0 }), 'INVALID_ARGUMENT');
    const cos = await createIndex(backend, { dim: 4, metric: 'cosine' });
    await expectCode(cos.add([1], new Float32Array(4)), 'INVALID_VECTOR');
    expect(cos.size).toBe(0);
  });

  it.each(['cosine', 'ip'] as const)('uses hnswlib distances under %s', async (metric) => {
    const idx = await createIndex(backend, { dim: 4, metric, efSearch: 50 });
    const vs = new Float32Array([1, 0, 0, 0, 0, 2, 0, 0, 0.6, 0.8, 0, 0, -1, 0, 0, 0]);
    await idx.add([10, 20, 30, 40], vs);
    const res = await idx.search([3, 0, 0, 0], 4);
    const dists = new Map([...res.labels].map((l, i) => [l, res.distances[i]]));
    if (metric === 'cosine') {
      // 1 - cos: the scale of the query and of the stored vectors does not matter.
      expect([...res.labels]).toEqual([10, 30, 20, 40]);
      expect(dists.get(10)).toBeCloseTo(0, 5);
      expect(dists.get(30)).toBeCloseTo(0.4, 5);
      expect(dists.get(20)).toBeCloseTo(1, 5);
      expect(dists.get(40)).toBeCloseTo(2, 5);
    } else {
      // 1 - dot, unnormalised.
      expect(res.labels[0]).toBe(10);
      expect(dists.get(10)).toBeCloseTo(-2, 5);
      expect(dists.get(30)).toBeCloseTo(1 - 1.8, 5);
      expect(dists.get(20)).toBeCloseTo(1, 5);
      expect(dists.get(40)).toBeCloseTo(4, 5);
    }
  });

  it('deletes: deleted labels never come back, recall holds on the rest, and a deleted label can be added again', async () => {
    const idx = await createIndex(backend, { dim: DIM, metric: 'l2', efConstruction: 100, seed: 2 });
    await idx.add(labels, vectors);
    const gone: number[] = [];
    for (let i = 0; i < N; i += 3) gone.push(labelOf(i));
    await idx.delete(gone);
    expect(idx.size).toBe(N - gone.length);
    expect(await idx.has(gone[0])).toBe(false);
    await expectCode(idx.delete([gone[0]]), 'UNKNOWN_LABEL');
    const goneSet = new Set(gone);
    const mask = new Uint8Array(N).map((_, i) => (goneSet.has(labelOf(i)) ? 0 : 1));
    let recall = 0;
    for (let q = 0; q < 20; q++) {
      const query = queries.subarray(q * DIM, (q + 1) * DIM);
      const res = await idx.search(query, 10, { efSearch: 100 });
      for (const l of res.labels) expect(goneSet.has(l)).toBe(false);
      recall += overlap(res.labels, brute(vectors, N, query, 10, 'l2', mask));
    }
    expect(recall / 20).toBeGreaterThanOrEqual(backend === 'flat' ? 1 : 0.95);
    // Re-adding a deleted label with a new vector: it is found at the new place.
    const fresh = new Float32Array(DIM).fill(25);
    await idx.add([gone[0]], fresh);
    expect(idx.size).toBe(N - gone.length + 1);
    const res = await idx.search(fresh, 1);
    expect(res.labels[0]).toBe(gone[0]);
    expect(res.distances[0]).toBeCloseTo(0, 4);
  });

  it('saves and loads to identical results where it persists, and refuses damaged files', async () => {
    if (!index.persistent) {
      await expect(index.save(join(dir, 'flat.idx'))).rejects.toThrow(/flat/);
      await expect(loadIndex(backend, join(dir, 'flat.idx'))).rejects.toThrow(/flat/);
      return;
    }
    const file = join(dir, 'index.bin');
    await index.save(file);
    const loaded = await loadIndex(backend, file);
    expect(loaded.backend).toBe(backend);
    expect(loaded.size).toBe(index.size);
    expect(loaded.dim).toBe(DIM);
    expect(loaded.metric).toBe('l2');
    for (let q = 0; q < 20; q++) {
      const query = queries.subarray(q * DIM, (q + 1) * DIM);
      const a = await index.search(query, 10, { efSearch: 40 });
      const b = await loaded.search(query, 10, { efSearch: 40 });
      expect([...b.labels]).toEqual([...a.labels]);
      expect([...b.distances]).toEqual([...a.distances]);
    }
    // Missing, truncated and corrupted files are refused with an error naming the file.
    await expect(loadIndex(backend, join(dir, 'nope.bin'))).rejects.toThrow(/nope\.bin/);
    const bytes = readFileSync(file);
    const truncated = join(dir, 'truncated.bin');
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    if (backend === 'hnswlib') writeFileSync(hnswlibMetaPath(truncated), readFileSync(hnswlibMetaPath(file)));
    const e1 = await expectCode(loadIndex(backend, truncated), 'CORRUPT_FILE');
    expect(e1.message).toContain('truncated.bin');
    const corrupt = join(dir, 'corrupt.bin');
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(flipped.length * 0.7)] ^= 0xff;
    writeFileSync(corrupt, flipped);
    if (backend === 'hnswlib') writeFileSync(hnswlibMetaPath(corrupt), readFileSync(hnswlibMetaPath(file)));
    const e2 = await expectCode(loadIndex(backend, corrupt), 'CORRUPT_FILE');
    expect(e2.message).toContain('corrupt.bin');
    expect(existsSync(file)).toBe(true);
  });

  it.skipIf(backend === 'flat')('keeps deletions across save and load', async () => {
    const idx = await createIndex(backend, { dim: DIM, metric: 'cosine', seed: 4 });
    await idx.add(labels.subarray(0, 200), vectors.subarray(0, 200 * DIM));
    const gone = [labelOf(0), labelOf(1), labelOf(50)];
    await idx.delete(gone);
    const file = join(dir, 'deleted.bin');
    await idx.save(file);
    const loaded = await loadIndex(backend, file);
    expect(loaded.size).toBe(197);
    expect(loaded.metric).toBe('cosine');
    for (const l of gone) expect(await loaded.has(l)).toBe(false);
    expect(await loaded.has(labelOf(2))).toBe(true);
    const res = await loaded.search(vectors.subarray(0, DIM), 5, { efSearch: 50 });
    expect(res.labels).not.toContain(labelOf(0));
    await expectCode(loaded.delete([labelOf(1)]), 'UNKNOWN_LABEL');
  });

  it.skipIf(!existsSync(join(SIFT, 'base.fvecs')))('reaches recall@10 >= 0.95 on a siftsmall subset (2000 base, 50 queries)', async () => {
    const base = readFvecs(join(SIFT, 'base.fvecs'), 2000);
    const qs = readFvecs(join(SIFT, 'query.fvecs'), 50);
    const local = await createLocalIndex(backend, { dim: 128, metric: 'l2', m: 16, efConstruction: 200, seed: 42 });
    local.addBatch(Uint32Array.from({ length: 2000 }, (_, i) => i), base.data);
    const gt = exactKnn(base.data, 2000, 128, qs.data, 50, 10, 'l2');
    local.efSearch = 64;
    let hit = 0;
    for (let q = 0; q < 50; q++) {
      const got = local.searchPrepared(local.prepareQuery(qs.data.subarray(q * 128, (q + 1) * 128)), 10);
      const truth = new Set(gt.ids.subarray(q * 10, q * 10 + 10));
      for (let i = 0; i < got.length; i++) if (truth.has(got[i])) hit++;
    }
    expect(hit / 500).toBeGreaterThanOrEqual(0.95);
  });
});

describe('createIndex', () => {
  it('refuses an unknown backend', async () => {
    await expectCode(createIndex('faiss' as BackendName, { dim: 4, metric: 'l2' }), 'INVALID_ARGUMENT');
    await expectCode(loadIndex('faiss' as BackendName, 'x'), 'INVALID_ARGUMENT');
  });
});
