import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IndexManager, type Store } from '../../src/store/index.ts';
import { PineconeTestServer } from '../helpers/pinecone-server.ts';
import { chunks, newStore, rng, tempDir } from './helpers.ts';

// Pinecone's cloud cannot be reached from here: the real SDK talks to a local server that speaks its data-plane protocol.
const DIM = 8;
const WORDS = ['apple', 'banana', 'cherry', 'date', 'elder'];

describe('a collection on the pinecone backend', () => {
  let server: PineconeTestServer;
  let t: ReturnType<typeof tempDir>;
  let store: Store;
  const logs: string[] = [];
  const manager = (): IndexManager => new IndexManager(store, { log: (l) => logs.push(l), pinecone: { indexHost: server.url, apiKey: 'test-key', baseDelayMs: 1 } });

  beforeAll(async () => {
    server = await PineconeTestServer.start({ dimension: DIM, metric: 'euclidean' });
    t = tempDir();
    store = newStore(t.dir);
    const m = manager();
    await m.createCollection({ name: 'remote', model: 'm', dim: DIM, backend: 'pinecone', metric: 'l2' });
    const r = rng(5);
    for (let d = 0; d < 20; d++) {
      await m.upsertDocument('remote', {
        id: `d${d}`,
        metadata: { group: d % 4, fruit: WORDS[d % WORDS.length] },
        chunks: chunks([0, 1].map((i) => `${WORDS[(d + i) % WORDS.length]} ${d}-${i}`), DIM, r),
      });
    }
  });
  afterAll(async () => {
    store.close();
    t.cleanup();
    await server.close();
  });

  it('writes one namespace per collection, with the chunk metadata', async () => {
    expect(server.count('remote')).toBe(40);
    const m = manager();
    expect(await m.stats('remote')).toEqual({ documents: 20, chunks: 40, vectors: 40, indexed: 40 });
  });

  it('passes filters to Pinecone unchanged, and the answers equal the store\'s own filter evaluation', async () => {
    const m = manager();
    const filter = { $and: [{ group: { $in: [1, 2] } }, { fruit: { $ne: 'cherry' } }] };
    const before = server.requestsTo('/query').length;
    const q = store.iterateVectors('remote', { batchSize: 100 }).next().value!.vectors.subarray(0, DIM);
    const hits = await m.vectorSearch('remote', q, 40, { filter });
    const queries = server.requestsTo('/query').slice(before);
    expect(queries.length).toBe(1);
    expect((queries[0].body as { filter: unknown }).filter).toEqual(filter);
    const allowed = store.allowSet('remote', filter);
    expect(hits.length).toBe(allowed.size);
    for (const h of hits) expect(allowed.has(h.label)).toBe(true);
  });

  it('deletes reach Pinecone, and a namespace that disagrees with the store is re-upserted from it', async () => {
    const m = manager();
    await m.deleteDocuments('remote', ['d0', 'd1']);
    expect(server.count('remote')).toBe(36);
    server.namespaces.get('remote')!.clear(); // lost behind our back
    logs.length = 0;
    const fresh = manager();
    expect((await fresh.stats('remote')).indexed).toBe(36);
    expect(server.count('remote')).toBe(36);
    expect(logs.some((l) => l.includes('holds 0 vectors and the store 36'))).toBe(true);
  });

  it('deleting the collection clears its namespace', async () => {
    const m = manager();
    await m.deleteCollection('remote');
    expect(server.count('remote')).toBe(0);
  });
});
