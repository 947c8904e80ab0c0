import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalIndex } from '../../src/index/index.ts';
import { IndexManager, type Store } from '../../src/store/index.ts';
import { chunks, newStore, randomVector, rng, tempDir } from './helpers.ts';

const DIM = 16;
const WORDS = ['apple', 'banana', 'cherry', 'date', 'elder', 'fig', 'grape'];

describe.each([['trellis'], ['hnswlib']] as const)('IndexManager recovery (%s)', (backend) => {
  let t: ReturnType<typeof tempDir>;
  let store: Store;
  let logs: string[];
  const r = rng(3);
  const manager = () => new IndexManager(store, { log: (l) => logs.push(l) });

  beforeEach(async () => {
    t = tempDir();
    store = newStore(t.dir);
    logs = [];
    const m = manager();
    await m.createCollection({ name: 'c', model: 'm', dim: DIM, backend, metric: 'l2' });
    for (let d = 0; d < 30; d++) {
      await m.upsertDocument('c', {
        id: `d${d}`,
        metadata: { group: d % 3, fruit: WORDS[d % WORDS.length] },
        chunks: chunks([0, 1, 2, 3].map((i) => `${WORDS[(d + i) % WORDS.length]} number ${d}-${i}`), DIM, r),
      });
    }
    await m.close();
    expect(logs).toEqual([]);
  });
  afterEach(() => {
    store.close();
    t.cleanup();
  });

  async function expectConsistent(m: IndexManager): Promise<void> {
    const stats = await m.stats('c');
    expect(stats.indexed).toBe(stats.chunks);
    const idx = await m.index('c');
    for (const batch of store.iterateLabels('c')) for (const l of batch) expect(await idx.has(l)).toBe(true);
    // Every stored vector finds itself.
    for (const b of store.iterateVectors('c', { batchSize: 1000 })) {
      for (let i = 0; i < b.labels.length; i += 17) {
        const hits = await m.vectorSearch('c', b.vectors.subarray(i * DIM, (i + 1) * DIM), 1);
        expect(hits[0].label).toBe(b.labels[i]);
      }
    }
  }

  it('opens a clean index silently', async () => {
    const m = manager();
    expect(await m.stats('c')).toEqual({ documents: 30, chunks: 120, vectors: 120, indexed: 120 });
    await expectConsistent(m);
    expect(logs).toEqual([]);
  });

  it('rebuilds a missing index file from the store, with a log line', async () => {
    const m0 = manager();
    rmSync(m0.indexPath('c')!);
    const m = manager();
    await expectConsistent(m);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/rebuilt the index of collection "c" from 120 stored vectors: index file .* is missing/);
    expect(existsSync(m.indexPath('c')!)).toBe(true);
    logs = [];
    await expectConsistent(manager());
    expect(logs).toEqual([]); // the rebuilt file was saved
  });

  it('rebuilds a corrupt index file (flipped bytes), with a log line', async () => {
    const path = manager().indexPath('c')!;
    const bytes = readFileSync(path);
    for (let i = 0; i < 16; i++) bytes[Math.floor(bytes.length / 2) + i * 7] ^= 0xa5;
    writeFileSync(path, bytes);
    const m = manager();
    await expectConsistent(m);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/rebuilt the index of collection "c" from 120 stored vectors: index file is corrupt \(.*\)/);
  });

  it('rebuilds a truncated index file', async () => {
    const path = manager().indexPath('c')!;
    writeFileSync(path, readFileSync(path).subarray(0, 100));
    await expectConsistent(manager());
    expect(logs[0]).toMatch(/corrupt/);
  });

  it('catches up an index that is ahead of the store (labels removed behind its back)', async () => {
    const gone = store.deleteDocuments('c', ['d1', 'd2', 'd3']);
    expect(gone.removed.length).toBe(12);
    const m = manager();
    await expectConsistent(m);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/caught up the index of collection "c": it was ahead of the store by 12 deleted vectors \(removed them\); now 108 vectors/);
    const idx = await m.index('c');
    for (const l of gone.removed) expect(await idx.has(l)).toBe(false);
  });

  it('catches up an index that is behind the store (labels added behind its back)', async () => {
    store.upsertDocument('c', { id: 'new1', chunks: chunks(['fresh one', 'fresh two'], DIM, r) });
    store.upsertDocument('c', { id: 'd0', chunks: chunks(['replaced'], DIM, r) }); // -4 +1
    const m = manager();
    await expectConsistent(m);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/it was behind the store by 3 vectors \(added them from the store\) and ahead of the store by 4 deleted vectors \(removed them\); now 119 vectors/);
    logs = [];
    await expectConsistent(manager());
    expect(logs).toEqual([]);
  });

  it('catches up changes that were never saved (process died before flush)', async () => {
    const m = manager();
    await m.upsertDocument('c', { id: 'unsaved', chunks: chunks(['not yet saved'], DIM, r) });
    await m.deleteDocuments('c', ['d5']);
    // no m.close(): the index file is the one saved before
    const m2 = manager();
    await expectConsistent(m2);
    expect(logs.join('\n')).toMatch(/behind the store by 1 vectors .* and ahead of the store by 4 deleted vectors/);
  });

  it('rebuilds an index holding labels the store never issued, or built with other parameters', async () => {
    const m0 = manager();
    const path = m0.indexPath('c')!;
    const rogue = await createLocalIndex(backend, { dim: DIM, metric: 'l2' });
    rogue.addBatch([0, 1, 5000], new Float32Array(3 * DIM).fill(0.5));
    rogue.save(path);
    await expectConsistent(manager());
    expect(logs.at(-1)).toMatch(/rebuilt the index of collection "c" from 120 stored vectors: index holds 1 labels the store never issued/);

    const other = await createLocalIndex(backend, { dim: DIM + 1, metric: 'l2' });
    other.save(path);
    await expectConsistent(manager());
    expect(logs.at(-1)).toMatch(/index file has dim 17 \/ l2, the collection has dim 16 \/ l2/);
  });
});

describe('IndexManager search and lifecycle', () => {
  let t: ReturnType<typeof tempDir>;
  let store: Store;
  let m: IndexManager;
  const logs: string[] = [];
  const r = rng(9);

  beforeEach(async () => {
    t = tempDir();
    store = newStore(t.dir);
    m = new IndexManager(store, { log: (l) => logs.push(l) });
    await m.createCollection({ name: 'c', model: 'm', dim: DIM });
    for (let d = 0; d < 40; d++) {
      await m.upsertDocument('c', {
        id: `d${d}`,
        metadata: { group: d % 4, tags: d % 2 ? ['odd'] : ['even'] },
        chunks: chunks([`${WORDS[d % WORDS.length]} pie recipe ${d}`, `notes ${d}`], DIM, r),
      });
    }
  });
  afterEach(() => {
    store.close();
    t.cleanup();
  });

  it('filtered vector search returns only matching chunks, exactly the nearest among them', async () => {
    const q = randomVector(DIM, r);
    const hits = await m.vectorSearch('c', q, 5, { filter: { group: { $in: [1, 2] }, tags: 'odd' } });
    expect(hits.length).toBe(5);
    for (const h of hits) {
      expect(h.chunk.metadata.tags).toEqual(['odd']);
      expect([1, 2]).toContain(h.chunk.metadata.group);
    }
    // Brute force over the allowed chunks (cosine distance).
    const allowed: { label: number; d: number }[] = [];
    const norm = (v: Float32Array) => Math.hypot(...v);
    for (const b of store.iterateVectors('c')) {
      b.labels.forEach((l, i) => {
        const meta = store.getChunkByLabel('c', l)!.metadata;
        if (meta.tags?.toString() !== 'odd' || ![1, 2].includes(meta.group as number)) return;
        const v = b.vectors.subarray(i * DIM, (i + 1) * DIM);
        let dot = 0;
        for (let j = 0; j < DIM; j++) dot += v[j] * q[j];
        allowed.push({ label: l, d: 1 - dot / (norm(v) * norm(q)) });
      });
    }
    allowed.sort((a, b) => a.d - b.d);
    expect(hits.map((h) => h.label)).toEqual(allowed.slice(0, 5).map((a) => a.label));
    expect(await m.vectorSearch('c', q, 5, { filter: { group: 99 } })).toEqual([]);
  });

  it('keyword and hybrid search, with filters', async () => {
    const kw = await m.search('c', { mode: 'keyword', text: 'apple pie', k: 3 });
    expect(kw[0].chunk.text).toMatch(/apple pie/);
    expect(kw[0].bm25).toBeGreaterThan(0);
    const target = store.getChunk('c', 'd7#0', { withVector: true })!; // "apple pie recipe 7"
    const hy = await m.search('c', { mode: 'hybrid', text: 'apple', vector: target.vector!, k: 5, filter: { group: 3 } });
    expect(hy[0].chunkId).toBe('d7#0');
    expect(hy[0].rrf).toBeGreaterThan(hy[1].rrf!);
    for (const h of hy) expect(h.chunk.metadata.group).toBe(3);
    const kwOnly = await m.search('c', { mode: 'hybrid', text: 'apple', vector: target.vector!, k: 5, weights: { vector: 0 } });
    for (const h of kwOnly.filter((h) => h.rrf! > 0)) expect(h.chunk.text).toMatch(/apple/);
    await expect(m.search('c', { mode: 'vector', k: 3 })).rejects.toThrow(/needs a query vector/);
  });

  it('deletes by filter from store and index together; delete collection removes the index file', async () => {
    const before = await m.stats('c');
    const res = await m.deleteDocumentsWhere('c', { group: 0 });
    expect(res.documents.length).toBe(10);
    const after = await m.stats('c');
    expect(after).toEqual({ documents: before.documents - 10, chunks: before.chunks - 20, vectors: before.vectors - 20, indexed: before.indexed - 20 });
    await m.save('c');
    const path = m.indexPath('c')!;
    expect(existsSync(path)).toBe(true);
    expect(await m.deleteCollection('c')).toBe(true);
    expect(existsSync(path)).toBe(false);
    expect(store.getCollection('c')).toBeUndefined();
    expect(logs).toEqual([]);
  });

  it('a flat collection is built in memory from the store on every open', async () => {
    await m.createCollection({ name: 'exact', model: 'm', dim: DIM, backend: 'flat' });
    await m.upsertDocument('exact', { id: 'x', chunks: chunks(['one', 'two', 'three'], DIM, r) });
    expect(m.indexPath('exact')).toBeUndefined();
    const m2 = new IndexManager(store, { log: (l) => logs.push(l) });
    expect((await m2.stats('exact')).indexed).toBe(3);
    expect(logs).toEqual([]);
  });
});
