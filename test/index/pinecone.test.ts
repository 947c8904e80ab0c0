import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeededRng } from '../../eval/ann/synthetic.ts';
import { EngineError } from '../../src/engine/errors.ts';
import { LabelSet } from '../../src/engine/label-set.ts';
import type { Metric } from '../../src/engine/types.ts';
import { exactKnn } from '../../src/index/exact.ts';
import { ALL_BACKENDS, BACKENDS, createIndex, createLocalIndex, loadIndex, type VectorIndex } from '../../src/index/index.ts';
import {
  backoffDelay,
  LABEL_FIELD,
  parseRetryAfter,
  PineconeBackendError,
  PineconeIndex,
  type PineconeIndexOptions,
  type RetryInfo,
} from '../../src/index/pinecone.ts';
import { parseFilter } from '../../src/store/filter.ts';
import { PineconeTestServer, type PineconeMetric } from '../helpers/pinecone-server.ts';

/**
 * The Pinecone backend, driven through the real @pinecone-database/pinecone SDK against PineconeTestServer, a local
 * server on 127.0.0.1 speaking the data-plane protocol. Pinecone's cloud cannot be reached from here. Every request
 * the process makes is checked to go to a local test server (no control-plane call, no other host).
 */

const DIM = 8;
const API_KEY = 'test-key';
const PINECONE_METRIC: Record<Metric, PineconeMetric> = { l2: 'euclidean', ip: 'dotproduct', cosine: 'cosine' };

const servers = new Map<Metric, PineconeTestServer>();
const seenUrls: string[] = [];
/** Loopback URLs of servers closed on purpose (the unreachable-host test). */
const closedUrls: string[] = [];
const realFetch = globalThis.fetch;

function randomVectors(n: number, dim: number, seed: number): Float32Array {
  const rng = new SeededRng(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = rng.normal();
  return out;
}

const row = (v: Float32Array, i: number, dim = DIM) => v.subarray(i * dim, (i + 1) * dim);

let nsCounter = 0;
/** A fresh namespace per test, so tests do not see each other's records. */
function freshNamespace(tag: string): string {
  return `${tag}-${++nsCounter}`;
}

function opts(metric: Metric, extra: Partial<PineconeIndexOptions> = {}): PineconeIndexOptions {
  return {
    dim: DIM,
    metric,
    apiKey: API_KEY,
    indexHost: servers.get(metric)!.url,
    namespace: freshNamespace(metric),
    baseDelayMs: 5,
    maxDelayMs: 2000,
    ...extra,
  };
}

async function open(metric: Metric, extra: Partial<PineconeIndexOptions> = {}): Promise<PineconeIndex> {
  return (await createIndex('pinecone', opts(metric, extra))) as PineconeIndex;
}

async function expectCode(p: Promise<unknown>, code: string): Promise<Error & { code: string }> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, `expected an error with code ${code}`).toBeInstanceOf(Error);
  expect((err as { code?: string }).code, (err as Error).message).toBe(code);
  return err as Error & { code: string };
}

beforeAll(async () => {
  for (const metric of ['l2', 'ip', 'cosine'] as const) {
    servers.set(metric, await PineconeTestServer.start({ dimension: DIM, metric: PINECONE_METRIC[metric], apiKey: API_KEY }));
  }
  // A pass-through spy: records every URL the process fetches, so that the test can prove nothing left loopback.
  globalThis.fetch = (input: string | URL | Request, init?: RequestInit) => {
    seenUrls.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    return realFetch(input, init);
  };
});

afterAll(async () => {
  globalThis.fetch = realFetch;
  for (const s of servers.values()) await s.close();
});

describe('pinecone backend: configuration', () => {
  it('is a backend of the factory but not one of the local ones', async () => {
    expect(ALL_BACKENDS).toContain('pinecone');
    expect(BACKENDS).not.toContain('pinecone');
    await expectCode(createLocalIndex('pinecone', { dim: 4, metric: 'l2' }), 'INVALID_ARGUMENT');
    const e = await expectCode(loadIndex('pinecone', '/tmp/x'), 'INVALID_ARGUMENT');
    expect(e.message).toMatch(/pinecone/);
  });

  it('refuses bad or missing configuration locally, before any request', async () => {
    const before = seenUrls.length;
    const saved = { key: process.env.PINECONE_API_KEY, host: process.env.PINECONE_INDEX_HOST };
    delete process.env.PINECONE_API_KEY;
    delete process.env.PINECONE_INDEX_HOST;
    try {
      expect((await expectCode(createIndex('pinecone', { ...opts('l2'), apiKey: undefined }), 'INVALID_ARGUMENT')).message).toMatch(/PINECONE_API_KEY/);
      expect((await expectCode(createIndex('pinecone', { ...opts('l2'), indexHost: undefined }), 'INVALID_ARGUMENT')).message).toMatch(/index host/);
      await expectCode(createIndex('pinecone', { ...opts('l2'), namespace: undefined as unknown as string }), 'INVALID_ARGUMENT');
      await expectCode(createIndex('pinecone', { ...opts('l2'), dim: 0 }), 'INVALID_ARGUMENT');
      await expectCode(createIndex('pinecone', { ...opts('l2'), metric: 'hamming' as Metric }), 'INVALID_ARGUMENT');
      await expectCode(createIndex('pinecone', { ...opts('l2'), batchSize: 1001 }), 'INVALID_ARGUMENT');
      await expectCode(createIndex('pinecone', { ...opts('l2'), indexHost: `${servers.get('l2')!.url}/path` }), 'INVALID_ARGUMENT');
    } finally {
      if (saved.key !== undefined) process.env.PINECONE_API_KEY = saved.key;
      if (saved.host !== undefined) process.env.PINECONE_INDEX_HOST = saved.host;
    }
    expect(seenUrls.length).toBe(before);
  });

  it('reads the API key and the host from the environment', async () => {
    const saved = { key: process.env.PINECONE_API_KEY, host: process.env.PINECONE_INDEX_HOST };
    process.env.PINECONE_API_KEY = API_KEY;
    process.env.PINECONE_INDEX_HOST = servers.get('l2')!.url;
    try {
      const idx = await createIndex('pinecone', { dim: DIM, metric: 'l2', namespace: freshNamespace('env') });
      expect(idx.backend).toBe('pinecone');
      expect(idx.size).toBe(0);
    } finally {
      if (saved.key === undefined) delete process.env.PINECONE_API_KEY;
      else process.env.PINECONE_API_KEY = saved.key;
      if (saved.host === undefined) delete process.env.PINECONE_INDEX_HOST;
      else process.env.PINECONE_INDEX_HOST = saved.host;
    }
  });

  it('refuses an index whose dimension differs from the collection', async () => {
    const e = await expectCode(createIndex('pinecone', { ...opts('l2'), dim: DIM + 1 }), 'DIMENSION_MISMATCH');
    expect(e.message).toContain(String(DIM));
  });

  it('sends the SDK headers (Api-Key, X-Pinecone-Api-Version) and a wrong key is refused without retry', async () => {
    const server = servers.get('l2')!;
    const idx = await open('l2');
    await idx.add([1], new Float32Array(DIM).fill(1));
    for (const r of server.requests) {
      expect(r.headers['api-key']).toBe(API_KEY);
      expect(r.headers['x-pinecone-api-version']).toMatch(/^\d{4}-\d{2}/);
    }
    const n = server.requests.length;
    const e = await expectCode(createIndex('pinecone', opts('l2', { apiKey: 'wrong' })), 'UNAUTHORIZED');
    expect(e).toBeInstanceOf(PineconeBackendError);
    expect((e as PineconeBackendError).status).toBe(401);
    expect(server.requests.length).toBe(n + 1);
  });
});

describe('pinecone backend: data round trips', () => {
  it('adds in batches of 100, round-trips ids, vectors and metadata, counts, and deletes', async () => {
    const server = servers.get('l2')!;
    const idx = await open('l2');
    const n = 250;
    const vectors = randomVectors(n, DIM, 1);
    const labels = Uint32Array.from({ length: n }, (_, i) => i * 7 + 3);
    const metadata = Array.from({ length: n }, (_, i) => ({ title: `doc ${i}`, year: 1990 + (i % 30), draft: i % 2 === 0, tags: [`t${i % 3}`] }));
    const upsertsBefore = server.requestsTo('/vectors/upsert').length;
    await idx.add(labels, vectors, { metadata });
    const upserts = server.requestsTo('/vectors/upsert').slice(upsertsBefore);
    expect(upserts.map((r) => (r.body as { vectors: unknown[] }).vectors.length)).toEqual([100, 100, 50]);
    for (const r of upserts) expect((r.body as { namespace: string }).namespace).toBe(idx.namespace);
    // On the wire: string ids, the label kept in the reserved field.
    const first = (upserts[0].body as { vectors: { id: string; metadata: Record<string, unknown> }[] }).vectors[0];
    expect(first.id).toBe('3');
    expect(first.metadata).toEqual({ ...metadata[0], [LABEL_FIELD]: 3 });

    expect(idx.size).toBe(n);
    expect((await idx.stats()).count).toBe(n);
    expect(server.count(idx.namespace)).toBe(n);
    expect(await idx.has(labels[10])).toBe(true);
    expect(await idx.has(labels[10] + 1)).toBe(false);

    const got = await idx.fetch([labels[0], labels[249], 999_999]);
    expect([...got.keys()].sort((a, b) => a - b)).toEqual([labels[0], labels[249]]);
    expect(got.get(labels[0])!.vector).toEqual(row(vectors, 0)); // float32 values, bit for bit
    expect(got.get(labels[249])!.vector).toEqual(row(vectors, 249));
    expect(got.get(labels[249])!.metadata).toEqual(metadata[249]); // reserved field stripped

    const [hit] = await idx.query(row(vectors, 42), 1, { includeMetadata: true, includeValues: true });
    expect(hit.label).toBe(labels[42]);
    expect(hit.metadata).toEqual(metadata[42]);
    expect(hit.vector).toEqual(row(vectors, 42));

    await idx.delete([labels[0], labels[1]]);
    expect(idx.size).toBe(n - 2);
    expect(await idx.has(labels[0])).toBe(false);
    expect((await idx.stats()).count).toBe(n - 2);
    await idx.save('/nonexistent/dir/ignored'); // a no-op: durable remotely
    expect(idx.persistent).toBe(false);
  });

  it('reopening a namespace sees what is there (size from describe_index_stats)', async () => {
    const o = opts('l2');
    const a = (await createIndex('pinecone', o)) as PineconeIndex;
    await a.add([5, 6, 7], randomVectors(3, DIM, 2));
    const b = await createIndex('pinecone', o);
    expect(b.size).toBe(3);
    expect(await b.has(6)).toBe(true);
  });

  it('namespaces isolate collections', async () => {
    const a = await open('l2');
    const b = await open('l2', { indexHost: servers.get('l2')!.url });
    const va = randomVectors(20, DIM, 3);
    const vb = randomVectors(20, DIM, 4);
    const labels = Array.from({ length: 20 }, (_, i) => i + 1);
    await a.add(labels, va, { metadata: labels.map(() => ({ owner: 'a' })) });
    await b.add(labels, vb, { metadata: labels.map(() => ({ owner: 'b' })) });
    expect((await a.stats()).count).toBe(20);
    expect((await b.stats()).count).toBe(20);
    const hits = await a.query(row(vb, 5), 20, { includeMetadata: true });
    expect(hits.length).toBe(20);
    for (const h of hits) expect(h.metadata).toEqual({ owner: 'a' });
    expect((await b.fetch([6])).get(6)!.vector).toEqual(row(vb, 5));
    await a.clear();
    expect(a.size).toBe(0);
    expect((await a.stats()).count).toBe(0);
    expect((await b.stats()).count).toBe(20);
  });

  it('refuses duplicates and unknown labels with the contract codes, changing nothing', async () => {
    const server = servers.get('l2')!;
    const idx = await open('l2');
    const v = randomVectors(5, DIM, 5);
    await idx.add([1, 2, 3, 4, 5], v);
    const upserts = server.requestsTo('/vectors/upsert').length;
    await expectCode(idx.add([9, 3], randomVectors(2, DIM, 6)), 'DUPLICATE_LABEL');
    expect(server.requestsTo('/vectors/upsert').length).toBe(upserts);
    const deletes = server.requestsTo('/vectors/delete').length;
    await expectCode(idx.delete([2, 424242]), 'UNKNOWN_LABEL');
    expect(server.requestsTo('/vectors/delete').length).toBe(deletes);
    expect(await idx.has(2)).toBe(true);
    expect(await idx.has(9)).toBe(false);
    expect(idx.size).toBe(5);
    // upsert overwrites (vector and metadata) and counts only new labels.
    const fresh = new Float32Array(DIM).fill(0.25);
    await idx.upsert([3, 6], new Float32Array([...fresh, ...fresh]), { metadata: [{ v: 2 }, { v: 2 }] });
    expect(idx.size).toBe(6);
    expect((await idx.fetch([3])).get(3)).toEqual({ vector: fresh, metadata: { v: 2 } });
  });

  it('refuses bad vectors, labels and k locally, before any request', async () => {
    const server = servers.get('l2')!;
    const idx = await open('l2');
    await idx.add([1], new Float32Array(DIM).fill(1));
    const before = server.requests.length;
    const nan = new Float32Array(DIM).fill(1);
    nan[2] = NaN;
    await expectCode(idx.add([2], new Float32Array(DIM - 1)), 'DIMENSION_MISMATCH');
    await expectCode(idx.add([2, 3], new Float32Array(DIM)), 'DIMENSION_MISMATCH');
    await expectCode(idx.add([2], nan), 'INVALID_VECTOR');
    await expectCode(idx.add([2], new Float32Array(DIM).fill(Infinity)), 'INVALID_VECTOR');
    await expectCode(idx.add([2, 2], new Float32Array(2 * DIM).fill(1)), 'DUPLICATE_LABEL');
    await expectCode(idx.add([-1], new Float32Array(DIM).fill(1)), 'INVALID_ARGUMENT');
    await expectCode(idx.add([1.5], new Float32Array(DIM).fill(1)), 'INVALID_ARGUMENT');
    await expectCode(idx.add([2], new Float32Array(DIM).fill(1), { metadata: [{ [LABEL_FIELD]: 1 }] }), 'INVALID_ARGUMENT');
    await expectCode(idx.add([2], new Float32Array(DIM).fill(1), { metadata: [{ bad: { nested: 1 } }] }), 'INVALID_ARGUMENT');
    await expectCode(idx.add([2], new Float32Array(DIM).fill(1), { metadata: [] }), 'INVALID_ARGUMENT');
    await expectCode(idx.search(new Float32Array(DIM + 1), 5), 'DIMENSION_MISMATCH');
    await expectCode(idx.search(nan, 5), 'INVALID_VECTOR');
    await expectCode(idx.search(new Float32Array(DIM).fill(1), 0), 'INVALID_ARGUMENT');
    await expectCode(idx.search(new Float32Array(DIM).fill(1), 2.5), 'INVALID_ARGUMENT');
    await expectCode(idx.search(new Float32Array(DIM).fill(1), 5, { efSearch: 0 }), 'INVALID_ARGUMENT');
    await expectCode(idx.search(new Float32Array(DIM).fill(1), 5, { metadataFilter: [] as unknown as Record<string, unknown> }), 'INVALID_ARGUMENT');
    await expectCode(idx.delete([1, 1]), 'INVALID_ARGUMENT');
    const cos = await open('cosine');
    const n2 = server.requests.length + servers.get('cosine')!.requests.length;
    await expectCode(cos.add([1], new Float32Array(DIM)), 'INVALID_VECTOR');
    expect(server.requests.length + servers.get('cosine')!.requests.length).toBe(n2);
    expect(server.requests.length).toBe(before);
    expect(idx.size).toBe(1);
  });
});

describe('pinecone backend: search', () => {
  const N = 300;
  const vectors = randomVectors(N, DIM, 11);
  const queries = randomVectors(10, DIM, 12);
  const labelOf = (i: number) => i * 3 + 5;
  const labels = Uint32Array.from({ length: N }, (_, i) => labelOf(i));
  const metadata = Array.from({ length: N }, (_, i) => ({ genre: ['drama', 'comedy', 'news'][i % 3], year: 1980 + (i % 40) }));
  const indexes = new Map<Metric, PineconeIndex>();

  beforeAll(async () => {
    for (const metric of ['l2', 'ip', 'cosine'] as const) {
      const idx = await open(metric);
      await idx.add(labels, vectors, { metadata });
      indexes.set(metric, idx);
    }
  });

  function brute(metric: Metric, query: Float32Array, k: number, allow?: (i: number) => boolean) {
    const mask = allow ? Uint8Array.from({ length: N }, (_, i) => (allow(i) ? 1 : 0)) : undefined;
    // exactKnn is the flat backend's ground truth: squared L2, 1 - dot, or 1 - cos over normalised rows.
    const { ids, distances } = exactKnn(vectors, N, DIM, query, 1, k, metric, { allow: mask });
    const out: { label: number; dist: number }[] = [];
    for (let i = 0; i < k; i++) if (ids[i] >= 0) out.push({ label: labelOf(ids[i]), dist: distances[i] });
    return out;
  }

  it.each(['l2', 'ip', 'cosine'] as const)('is exact under %s, nearest first, with hnswlib-convention distances', async (metric) => {
    const idx = indexes.get(metric)!;
    for (let q = 0; q < 10; q++) {
      const query = row(queries, q);
      const res = await idx.search(query, 10);
      const truth = brute(metric, query, 10);
      expect([...res.labels]).toEqual(truth.map((t) => t.label));
      for (let i = 0; i < 10; i++) expect(res.distances[i]).toBeCloseTo(truth[i].dist, 4);
      for (let i = 1; i < 10; i++) expect(res.distances[i]).toBeGreaterThanOrEqual(res.distances[i - 1]);
    }
    // Under l2 and cosine a stored vector is its own nearest neighbour, at distance 0 (not so under ip).
    if (metric !== 'ip') {
      const self = await idx.search(row(vectors, 17), 1);
      expect(self.labels[0]).toBe(labelOf(17));
      expect(self.distances[0]).toBeCloseTo(0, 5);
    }
  });

  it('hnswlib distances on a hand-made example (cosine: 1 - cos, ip: 1 - dot)', async () => {
    for (const metric of ['cosine', 'ip'] as const) {
      const idx = await createIndex('pinecone', { ...opts(metric), dim: 4, indexHost: servers.get(metric)!.url }).catch((e: unknown) => e);
      // The test servers have dimension 8, so a 4-d collection is refused; pad to 8 instead.
      expect((idx as EngineError).code).toBe('DIMENSION_MISMATCH');
      const pad = (v: number[]) => [...v, 0, 0, 0, 0];
      const real = await open(metric);
      await real.add([10, 20, 30, 40], new Float32Array([...pad([1, 0, 0, 0]), ...pad([0, 2, 0, 0]), ...pad([0.6, 0.8, 0, 0]), ...pad([-1, 0, 0, 0])]));
      const res = await real.search(pad([3, 0, 0, 0]), 4);
      const d = new Map([...res.labels].map((l, i) => [l, res.distances[i]]));
      if (metric === 'cosine') {
        expect([...res.labels]).toEqual([10, 30, 20, 40]);
        expect(d.get(10)).toBeCloseTo(0, 5);
        expect(d.get(30)).toBeCloseTo(0.4, 5);
        expect(d.get(20)).toBeCloseTo(1, 5);
        expect(d.get(40)).toBeCloseTo(2, 5);
      } else {
        expect(res.labels[0]).toBe(10);
        expect(d.get(10)).toBeCloseTo(-2, 5);
        expect(d.get(30)).toBeCloseTo(1 - 1.8, 5);
        expect(d.get(40)).toBeCloseTo(4, 5);
      }
    }
  });

  it('returns at most size results when k exceeds it; an empty namespace returns none', async () => {
    const idx = await open('l2');
    expect((await idx.search(row(queries, 0), 5)).labels.length).toBe(0);
    await idx.add([1, 2, 3], vectors.subarray(0, 3 * DIM));
    const res = await idx.search(row(queries, 0), 10, { efSearch: 5 });
    expect([...res.labels].sort()).toEqual([1, 2, 3]);
  });

  it('passes a metadata filter through unchanged and returns the nearest matching records', async () => {
    const server = servers.get('l2')!;
    const idx = indexes.get('l2')!;
    const metadataFilter = { $or: [{ genre: { $in: ['drama', 'news'] } }, { year: { $gte: 2015 } }], year: { $ne: 1990 } };
    const sent = JSON.stringify(metadataFilter);
    const res = await idx.search(row(queries, 1), 10, { metadataFilter });
    const body = server.requestsTo('/query').at(-1)!.body as { filter: unknown; namespace: string; topK: number };
    expect(body.filter).toEqual(metadataFilter);
    expect(JSON.stringify(body.filter)).toBe(sent); // same keys, same order: untouched
    expect(body.namespace).toBe(idx.namespace);
    expect(body.topK).toBe(10);
    const pred = parseFilter(metadataFilter);
    const truth = brute('l2', row(queries, 1), 10, (i) => pred.matches(metadata[i]));
    expect([...res.labels]).toEqual(truth.map((t) => t.label));
    // Results do satisfy the filter (and the expected set is not the unfiltered one).
    expect([...res.labels]).not.toEqual(brute('l2', row(queries, 1), 10).map((t) => t.label));
  });

  it('sends a small allow-set as $in on the label field, ANDs it with a metadata filter, and refuses a large one', async () => {
    const server = servers.get('l2')!;
    const idx = indexes.get('l2')!;
    const rng = new SeededRng(3);
    const allowedIdx = new Set<number>();
    for (let i = 0; i < N; i++) if (rng.next() < 0.15) allowedIdx.add(i);
    const allowed = new Set([...allowedIdx].map(labelOf));
    const res = await idx.search(row(queries, 2), 10, { filter: allowed });
    const filter = (server.requestsTo('/query').at(-1)!.body as { filter: Record<string, { $in: number[] }> }).filter;
    expect(Object.keys(filter)).toEqual([LABEL_FIELD]);
    expect(filter[LABEL_FIELD].$in).toEqual([...allowed].sort((a, b) => a - b));
    expect([...res.labels]).toEqual(brute('l2', row(queries, 2), 10, (i) => allowedIdx.has(i)).map((t) => t.label));
    // The engine's LabelSet works too.
    const ls = LabelSet.from(allowed);
    expect([...(await idx.search(row(queries, 2), 10, { filter: ls })).labels]).toEqual([...res.labels]);
    // Both: {$and: [metadataFilter, allow-set]}.
    const metadataFilter = { genre: 'drama' };
    const both = await idx.search(row(queries, 2), 5, { filter: allowed, metadataFilter });
    const sent = (server.requestsTo('/query').at(-1)!.body as { filter: unknown }).filter;
    expect(sent).toEqual({ $and: [metadataFilter, { [LABEL_FIELD]: { $in: [...allowed].sort((a, b) => a - b) } }] });
    expect([...both.labels]).toEqual(brute('l2', row(queries, 2), 5, (i) => allowedIdx.has(i) && metadata[i].genre === 'drama').map((t) => t.label));
    // An empty allow-set returns nothing without a request; a large one is refused with advice.
    const n = server.requests.length;
    expect((await idx.search(row(queries, 2), 10, { filter: new Set<number>() })).labels.length).toBe(0);
    const big = new Set(Array.from({ length: 1001 }, (_, i) => i));
    const e = await expectCode(idx.search(row(queries, 2), 10, { filter: big }), 'INVALID_ARGUMENT');
    expect(e.message).toMatch(/metadataFilter/);
    expect(server.requests.length).toBe(n);
  });

  it('deletes by metadata filter (sent unchanged) and re-reads the count', async () => {
    const server = servers.get('l2')!;
    const idx = await open('l2');
    await idx.add(labels.subarray(0, 30), vectors.subarray(0, 30 * DIM), { metadata: metadata.slice(0, 30) });
    await idx.deleteByMetadata({ genre: { $eq: 'news' } });
    expect((server.requestsTo('/vectors/delete').at(-1)!.body as { filter: unknown }).filter).toEqual({ genre: { $eq: 'news' } });
    expect(idx.size).toBe(20);
    const hits = await idx.query(row(queries, 0), 30, { includeMetadata: true });
    expect(hits.every((h) => h.metadata!.genre !== 'news')).toBe(true);
  });
});

describe('pinecone backend: batching, retries and errors', () => {
  it('honours batchSize and the request byte limit', async () => {
    const server = servers.get('l2')!;
    const small = await open('l2', { batchSize: 7 });
    let before = server.requestsTo('/vectors/upsert').length;
    await small.add(Array.from({ length: 30 }, (_, i) => i), randomVectors(30, DIM, 20));
    expect(server.requestsTo('/vectors/upsert').slice(before).map((r) => (r.body as { vectors: unknown[] }).vectors.length)).toEqual([7, 7, 7, 7, 2]);

    const bytes = await open('l2', { maxRequestBytes: 4096 });
    before = server.requestsTo('/vectors/upsert').length;
    const meta = Array.from({ length: 40 }, (_, i) => ({ text: `chunk ${i} `.repeat(20) }));
    await bytes.add(Array.from({ length: 40 }, (_, i) => i), randomVectors(40, DIM, 21), { metadata: meta });
    const sent = server.requestsTo('/vectors/upsert').slice(before);
    expect(sent.length).toBeGreaterThan(1);
    for (const r of sent) expect(Buffer.byteLength(r.raw)).toBeLessThanOrEqual(4096);
    expect(sent.reduce((s, r) => s + (r.body as { vectors: unknown[] }).vectors.length, 0)).toBe(40);
    expect(server.count(bytes.namespace)).toBe(40);
  });

  it('retries 429 (honouring Retry-After) and 503 with growing, jittered backoff, then succeeds', async () => {
    const server = servers.get('l2')!;
    const retries: RetryInfo[] = [];
    const idx = await open('l2', { baseDelayMs: 20, onRetry: (r) => retries.push(r) });
    const before = server.requestsTo('/vectors/upsert').length;
    server.failNext(1, { status: 429, retryAfter: '1', path: '/vectors/upsert' });
    server.failNext(2, { status: 503, path: '/vectors/upsert' });
    const t0 = performance.now();
    await idx.add([1, 2, 3], randomVectors(3, DIM, 30));
    const elapsed = performance.now() - t0;
    expect(server.requestsTo('/vectors/upsert').length - before).toBe(4);
    expect(server.count(idx.namespace)).toBe(3);
    expect(idx.size).toBe(3);
    expect(retries.map((r) => [r.operation, r.attempt, r.status])).toEqual([
      ['upsert', 1, 429],
      ['upsert', 2, 503],
      ['upsert', 3, 503],
    ]);
    expect(retries[0].retryAfterMs).toBe(1000);
    expect(retries[0].delayMs).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeGreaterThanOrEqual(990);
    // Backoff for attempt n is base * 2^(n-1), jittered into [50 %, 100 %].
    expect(retries[1].delayMs).toBeGreaterThanOrEqual(20);
    expect(retries[1].delayMs).toBeLessThanOrEqual(40);
    expect(retries[2].delayMs).toBeGreaterThanOrEqual(40);
    expect(retries[2].delayMs).toBeLessThanOrEqual(80);
    // Reads retry too.
    server.failNext(1, { status: 500, path: '/query' });
    expect((await idx.search(new Float32Array(DIM).fill(1), 3)).labels.length).toBe(3);
  });

  it('gives up after maxAttempts with a clear error, and rolls back the batches of the add already written', async () => {
    const server = servers.get('l2')!;
    const idx = await open('l2', { maxAttempts: 3, batchSize: 10 });
    const before = server.requestsTo('/vectors/upsert').length;
    // The first batch goes through; the second fails on every attempt.
    server.failNext(3, { status: 503, path: '/vectors/upsert', after: 1 });
    const e = await expectCode(idx.add(Array.from({ length: 30 }, (_, i) => i), randomVectors(30, DIM, 31)), 'RETRIES_EXHAUSTED');
    expect(e).toBeInstanceOf(PineconeBackendError);
    expect(e.message).toMatch(/gave up after 3 attempts/);
    expect(e.message).toMatch(/HTTP 503/);
    expect(e.message).toMatch(/deleted again/);
    expect((e as PineconeBackendError).attempts).toBe(3);
    expect(server.requestsTo('/vectors/upsert').length - before).toBe(4); // 1 good + 3 failed attempts, no third batch
    expect(server.count(idx.namespace)).toBe(0);
    expect(idx.size).toBe(0);
    // 429s that never stop: the same, for a read.
    server.failNext(3, { status: 429, path: '/query' });
    const e2 = await expectCode(idx.search(new Float32Array(DIM).fill(1), 1), 'RETRIES_EXHAUSTED');
    expect(e2.message).toMatch(/HTTP 429: Request rate limit exceeded/);
  });

  it('surfaces a 400 at once with the server message and no retry', async () => {
    const server = servers.get('l2')!;
    const idx = await open('l2');
    await idx.add([1], new Float32Array(DIM).fill(1));
    const before = server.requestsTo('/query').length;
    const e = await expectCode(idx.search(new Float32Array(DIM).fill(1), 1, { metadataFilter: { year: { $regex: '19.*' } } }), 'REJECTED');
    expect((e as PineconeBackendError).status).toBe(400);
    expect((e as PineconeBackendError).attempts).toBe(1);
    expect(e.message).toMatch(/HTTP 400/);
    expect(e.message).toMatch(/\$regex/); // Pinecone's own explanation
    expect(e.message).toMatch(/not retried/);
    expect(server.requestsTo('/query').length - before).toBe(1);
    // An injected 400 on upsert: no retry either, and nothing changed.
    server.failNext(1, { status: 400, path: '/vectors/upsert', body: { code: 3, message: 'Metadata size is 41 KB, which exceeds the limit' } });
    const u = server.requestsTo('/vectors/upsert').length;
    const e2 = await expectCode(idx.add([2], new Float32Array(DIM).fill(2)), 'REJECTED');
    expect(e2.message).toMatch(/exceeds the limit/);
    expect(server.requestsTo('/vectors/upsert').length - u).toBe(1);
    expect(idx.size).toBe(1);
  });

  it('gives up on an unreachable host after maxAttempts', async () => {
    const dead = await PineconeTestServer.start({ dimension: DIM, metric: 'euclidean' });
    const url = dead.url;
    await dead.close();
    const retries: RetryInfo[] = [];
    const e = await expectCode(
      createIndex('pinecone', { ...opts('l2'), indexHost: url, maxAttempts: 2, onRetry: (r) => retries.push(r) }),
      'RETRIES_EXHAUSTED',
    );
    expect(e.message).toMatch(/without an answer/);
    expect(retries.length).toBe(1);
    expect(retries[0].status).toBeUndefined();
    closedUrls.push(url);
  });

  it('parses Retry-After and computes bounded backoff', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(backoffDelay(1, 100, 1000, () => 0)).toBe(50);
    expect(backoffDelay(3, 100, 1000, () => 1)).toBe(400);
    expect(backoffDelay(10, 100, 1000, () => 1)).toBe(1000);
  });
});

describe('pinecone backend: the applicable parts of the shared contract', () => {
  // Ported from test/index/contract.test.ts (which loops over the local backends only). Save/load, recall-vs-HNSW
  // and siftsmall do not apply: the backend keeps no file and its search (here) is exact.
  const N = 200;
  const vectors = randomVectors(N, DIM, 41);
  const labelOf = (i: number) => i * 3 + 5;
  const labels = Uint32Array.from({ length: N }, (_, i) => labelOf(i));
  let index: VectorIndex;

  beforeAll(async () => {
    index = await createIndex('pinecone', opts('l2', { efSearch: 64, m: 16 }));
    await index.add(labels, vectors);
  });

  it('reports its shape and size', async () => {
    expect(index.backend).toBe('pinecone');
    expect(index.dim).toBe(DIM);
    expect(index.metric).toBe('l2');
    expect(index.size).toBe(N);
    const s = await index.stats();
    expect(s.count).toBe(N);
    expect(s.bytes).toBe(N * DIM * 4);
  });

  it('refuses bad input and leaves the index unchanged', async () => {
    const q = randomVectors(1, DIM, 42);
    const before = await index.search(q, 5);
    await expectCode(index.add([labelOf(0)], new Float32Array(DIM).fill(1)), 'DUPLICATE_LABEL');
    await expectCode(index.delete([labelOf(1), 424242]), 'UNKNOWN_LABEL');
    const batch = new Float32Array(3 * DIM).fill(0.5);
    batch[2 * DIM + 1] = NaN;
    await expectCode(index.add([100000, 100001, 100002], batch), 'INVALID_VECTOR');
    expect(await index.has(labelOf(1))).toBe(true);
    expect(await index.has(100000)).toBe(false);
    expect(index.size).toBe(N);
    expect([...(await index.search(q, 5)).labels]).toEqual([...before.labels]);
  });

  it('deletes: deleted labels never come back, and a deleted label can be added again', async () => {
    const idx = await createIndex('pinecone', opts('l2'));
    await idx.add(labels, vectors);
    const gone: number[] = [];
    for (let i = 0; i < N; i += 3) gone.push(labelOf(i));
    await idx.delete(gone);
    expect(idx.size).toBe(N - gone.length);
    await expectCode(idx.delete([gone[0]]), 'UNKNOWN_LABEL');
    const goneSet = new Set(gone);
    for (let q = 0; q < 5; q++) {
      const res = await idx.search(randomVectors(1, DIM, 50 + q), 20);
      for (const l of res.labels) expect(goneSet.has(l)).toBe(false);
    }
    const fresh = new Float32Array(DIM).fill(25);
    await idx.add([gone[0]], fresh);
    const res = await idx.search(fresh, 1);
    expect(res.labels[0]).toBe(gone[0]);
    expect(res.distances[0]).toBeCloseTo(0, 4);
  });
});

describe('pinecone backend: egress', () => {
  it('sent every request to a local test server, and each one arrived (no control-plane call, no other host)', () => {
    const locals = [...[...servers.values()].map((s) => s.url), ...closedUrls].map((u) => u + '/');
    expect(seenUrls.length).toBeGreaterThan(50);
    for (const u of seenUrls) expect(locals.some((l) => u.startsWith(l)), u).toBe(true);
    const arrived = [...servers.values()].reduce((s, srv) => s + srv.requests.length, 0);
    // The only fetches that did not arrive are the two attempts against the closed server.
    expect(arrived).toBe(seenUrls.length - 2);
    for (const s of servers.values()) expect(s.unexpected).toEqual([]);
  });
});
