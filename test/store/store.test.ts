import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_VERSION, MIGRATIONS, StoreError, openStore, type Store } from '../../src/store/index.ts';
import { chunks, newStore, randomVector, rng, tempDir } from './helpers.ts';

const DIM = 8;

function expectStoreError(fn: () => unknown, code: string, message?: RegExp): StoreError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected StoreError ${code}`).toBeInstanceOf(StoreError);
  expect((err as StoreError).code).toBe(code);
  if (message) expect((err as StoreError).message).toMatch(message);
  return err as StoreError;
}

describe('migrations', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  it('creates a fresh database at the latest version, in WAL mode with foreign keys on', () => {
    const s = newStore(t.dir);
    expect(s.schemaVersion).toBe(LATEST_VERSION);
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(s.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(s.db.pragma('busy_timeout', { simple: true })).toBe(5000);
    const tables = s.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all();
    for (const name of ['schema_migrations', 'collections', 'documents', 'chunks', 'ingest_runs', 'ingest_files']) expect(tables).toContain(name);
    const rows = s.db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
    expect(rows).toEqual(MIGRATIONS.map((m) => m.version));
    s.close();
  });

  it('re-opens without re-applying anything and keeps the data', () => {
    const s = newStore(t.dir);
    s.createCollection({ name: 'a', model: 'm', dim: DIM });
    s.close();
    const s2 = newStore(t.dir);
    expect(s2.schemaVersion).toBe(LATEST_VERSION);
    expect(s2.db.prepare('SELECT COUNT(*) FROM schema_migrations').pluck().get()).toBe(MIGRATIONS.length);
    expect(s2.listCollections().map((c) => c.name)).toEqual(['a']);
    s2.close();
  });

  it('refuses a database whose schema is newer than the code', () => {
    const s = newStore(t.dir);
    s.db.prepare(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from the future', 'x')`).run(LATEST_VERSION + 7);
    s.close();
    const err = expectStoreError(() => newStore(t.dir), 'SCHEMA_TOO_NEW');
    expect(err.message).toContain(`schema version ${LATEST_VERSION + 7} is newer`);
    expect(err.message).toContain('upgrade Trellis');
  });

  it('applies a pending migration step on open, in order', async () => {
    const { migrate } = await import('../../src/store/migrations.ts');
    const db = new Database(join(t.dir, 'm.db'));
    const steps = [...MIGRATIONS, { version: LATEST_VERSION + 1, name: 'jobs (test)', sql: 'CREATE TABLE jobs_test (id INTEGER PRIMARY KEY);' }];
    expect(migrate(db, 'm.db', MIGRATIONS)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(migrate(db, 'm.db', steps)).toEqual([LATEST_VERSION + 1]);
    expect(migrate(db, 'm.db', steps)).toEqual([]);
    // A failing step leaves the version where it was.
    const bad = [...steps, { version: LATEST_VERSION + 2, name: 'broken', sql: 'CREATE TABLE x (a); SELECT * FROM nope;' }];
    expect(() => migrate(db, 'm.db', bad)).toThrow(/nope/);
    expect(db.prepare('SELECT MAX(version) FROM schema_migrations').pluck().get()).toBe(LATEST_VERSION + 1);
    expect(db.prepare(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'x'`).pluck().get()).toBe(0);
    db.close();
  });
});

describe('store', () => {
  let t: ReturnType<typeof tempDir>;
  let s: Store;
  const r = rng(1);
  beforeEach(() => {
    t = tempDir();
    s = newStore(t.dir);
  });
  afterEach(() => {
    s.close();
    t.cleanup();
  });

  it('creates, lists, gets and validates collections', () => {
    const c = s.createCollection({ name: 'docs', model: 'trellis-static-wp256', dim: DIM });
    expect(c).toMatchObject({ name: 'docs', kind: 'text', dim: DIM, metric: 'cosine', m: 16, efConstruction: 200, efSearch: 64, backend: 'trellis', nextLabel: 0 });
    s.createCollection({ name: 'pics', kind: 'image', model: 'clip', dim: 4, metric: 'ip', backend: 'flat', m: 8 });
    expect(s.listCollections().map((x) => x.name)).toEqual(['docs', 'pics']);
    expect(s.getCollection('nope')).toBeUndefined();
    expectStoreError(() => s.requireCollection('nope'), 'NOT_FOUND', /nope/);
    expectStoreError(() => s.createCollection({ name: 'docs', model: 'x', dim: DIM }), 'ALREADY_EXISTS');
    for (const name of ['', 'a b', '../etc', 'x'.repeat(65), '-lead', 'dot.name']) {
      expectStoreError(() => s.createCollection({ name, model: 'x', dim: DIM }), 'INVALID_ARGUMENT', /invalid collection name/);
    }
    expectStoreError(() => s.createCollection({ name: 'z', model: 'x', dim: 0 }), 'INVALID_ARGUMENT', /dim/);
    expectStoreError(() => s.createCollection({ name: 'z', model: 'x', dim: 4, metric: 'hamming' as never }), 'INVALID_ARGUMENT', /metric/);
    expectStoreError(() => s.createCollection({ name: 'z', model: 'x', dim: 4, backend: 'faiss' as never }), 'INVALID_ARGUMENT', /backend/);
    expectStoreError(() => s.createCollection({ name: 'z', model: 'x', dim: 4, kind: 'audio' as never }), 'INVALID_ARGUMENT', /kind/);
    expect(s.getCollection('z')).toBeUndefined();
  });

  it('upserts a document with its chunks and vectors, and reads them back by id and by label', () => {
    s.createCollection({ name: 'c', model: 'm', dim: DIM });
    const v = chunks(['alpha beta', 'gamma delta', 'epsilon'], DIM, r);
    v[1].page = 2;
    v[1].metadata = { section: 'intro' };
    const res = s.upsertDocument('c', { id: 'doc1', source: '/x/doc1.txt', contentHash: 'h1', mtime: 1234, metadata: { lang: 'en', tags: ['a', 'b'] }, chunks: v });
    expect([...res.added]).toEqual([0, 1, 2]);
    expect([...res.removed]).toEqual([]);
    expect(res.created).toBe(true);
    expect(res.vectors.length).toBe(3 * DIM);
    expect([...res.vectors.subarray(DIM, 2 * DIM)]).toEqual([...v[1].vector as Float32Array]);
    expect(res.document).toMatchObject({ id: 'doc1', source: '/x/doc1.txt', contentHash: 'h1', mtime: 1234, metadata: { lang: 'en', tags: ['a', 'b'] } });

    const ch = s.getChunk('c', 'doc1#1', { withVector: true })!;
    expect(ch).toMatchObject({ documentId: 'doc1', ordinal: 1, text: 'gamma delta', page: 2, label: 1, metadata: { lang: 'en', tags: ['a', 'b'], section: 'intro', page: 2 } });
    expect([...ch.vector!]).toEqual([...(v[1].vector as Float32Array)]);
    expect(s.getChunkByLabel('c', 2)!.text).toBe('epsilon');
    expect(s.getDocumentByLabel('c', 2)!.id).toBe('doc1');
    expect(s.getChunksByLabels('c', [2, 99, 0]).map((x) => x?.id)).toEqual(['doc1#2', undefined, 'doc1#0']);
    expect(s.listChunks('c', 'doc1').map((x) => x.ordinal)).toEqual([0, 1, 2]);
    expect(s.counts('c')).toEqual({ documents: 1, chunks: 3, vectors: 3 });
    expect(s.requireCollection('c').nextLabel).toBe(3);
  });

  it('replaces a document atomically: old chunks go, new ones get fresh labels, FTS follows', () => {
    s.createCollection({ name: 'c', model: 'm', dim: DIM });
    s.upsertDocument('c', { id: 'd', chunks: chunks(['the quick brown fox', 'jumps over'], DIM, r) });
    s.upsertDocument('c', { id: 'e', chunks: chunks(['lazy dog sleeps'], DIM, r) });
    expect(s.keywordSearch('c', 'fox', 10).map((h) => h.chunkId)).toEqual(['d#0']);
    const res = s.upsertDocument('c', { id: 'd', chunks: chunks(['a hungry wolf', 'runs', 'far away'], DIM, r) });
    expect([...res.removed]).toEqual([0, 1]);
    expect([...res.added]).toEqual([3, 4, 5]);
    expect(res.created).toBe(false);
    expect(s.keywordSearch('c', 'fox', 10)).toEqual([]);
    expect(s.keywordSearch('c', 'wolf', 10).map((h) => [h.chunkId, h.label])).toEqual([['d#0', 3]]);
    expect(s.listChunks('c', 'd').map((x) => x.text)).toEqual(['a hungry wolf', 'runs', 'far away']);
    expect(s.counts('c')).toEqual({ documents: 2, chunks: 4, vectors: 4 });
    expect([...s.iterateLabels('c')].flatMap((b) => [...b])).toEqual([2, 3, 4, 5]);
  });

  it('a failing upsert leaves nothing behind (bad vector, id clash, or a throw in a wrapping transaction)', () => {
    s.createCollection({ name: 'c', model: 'm', dim: DIM });
    s.upsertDocument('c', { id: 'd', chunks: chunks(['original text here'], DIM, r) });
    s.upsertDocument('c', { id: 'other', chunks: [{ id: 'taken', text: 'x', vector: randomVector(DIM, r) }] });
    const before = JSON.stringify([s.counts('c'), s.requireCollection('c').nextLabel, s.listChunks('c', 'd')]);

    const bad = chunks(['new one', 'new two', 'new three'], DIM, r);
    bad[2].vector = new Float32Array(DIM - 1);
    expectStoreError(() => s.upsertDocument('c', { id: 'd', chunks: bad }), 'DIMENSION_MISMATCH', /chunk 2.*7 dimensions/);
    const nan = chunks(['n'], DIM, r);
    (nan[0].vector as Float32Array)[3] = NaN;
    expectStoreError(() => s.upsertDocument('c', { id: 'd', chunks: nan }), 'INVALID_ARGUMENT', /finite/);
    expectStoreError(
      () => s.upsertDocument('c', { id: 'd', chunks: [{ text: 'a', vector: randomVector(DIM, r) }, { id: 'taken', text: 'b', vector: randomVector(DIM, r) }] }),
      'ALREADY_EXISTS',
      /taken/,
    );
    expectStoreError(() => s.upsertDocument('c', { id: 'new', metadata: { $bad: 1 }, chunks: [] }), 'INVALID_ARGUMENT', /must not start with "\$"/);
    expectStoreError(() => s.upsertDocument('c', { id: 'new', metadata: { n: { nested: 1 } }, chunks: [] }), 'INVALID_ARGUMENT', /list of strings/);
    expect(() =>
      s.transaction(() => {
        s.upsertDocument('c', { id: 'd', chunks: chunks(['replaced'], DIM, r) });
        s.upsertDocument('c', { id: 'brand-new', chunks: chunks(['fresh'], DIM, r) });
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(JSON.stringify([s.counts('c'), s.requireCollection('c').nextLabel, s.listChunks('c', 'd')])).toBe(before);
    expect(s.getDocument('c', 'brand-new')).toBeUndefined();
    expect(s.keywordSearch('c', 'original', 5).map((h) => h.chunkId)).toEqual(['d#0']);
    expect(s.keywordSearch('c', 'replaced fresh', 5)).toEqual([]);
    expect(s.integrityCheck()).toBe('ok');
  });

  it('deletes documents by id and by filter, with their chunks and keyword entries', () => {
    s.createCollection({ name: 'c', model: 'm', dim: DIM });
    s.upsertDocument('c', { id: 'a', metadata: { year: 2001, tags: ['x'] }, chunks: chunks(['apple pie', 'apple tart'], DIM, r) });
    s.upsertDocument('c', { id: 'b', metadata: { year: 2010 }, chunks: chunks(['banana bread'], DIM, r) });
    s.upsertDocument('c', { id: 'c', metadata: { year: 2020, tags: ['x', 'y'] }, chunks: chunks(['cherry apple cake'], DIM, r) });
    const r1 = s.deleteDocuments('c', ['a', 'missing']);
    expect(r1.documents).toEqual(['a']);
    expect([...r1.removed].sort()).toEqual([0, 1]);
    expect(s.keywordSearch('c', 'apple', 10).map((h) => h.documentId)).toEqual(['c']);
    const r2 = s.deleteDocumentsWhere('c', { tags: 'x' });
    expect(r2.documents).toEqual(['c']);
    expect([...r2.removed]).toEqual([3]);
    expect(s.counts('c')).toEqual({ documents: 1, chunks: 1, vectors: 1 });
    expect(s.keywordSearch('c', 'apple cherry', 10)).toEqual([]);
    expect(s.keywordSearch('c', 'banana', 10).map((h) => h.chunkId)).toEqual(['b#0']);
  });

  it('deleting a collection cascades to everything in it and leaves other collections alone', () => {
    s.createCollection({ name: 'c1', model: 'm', dim: DIM });
    s.createCollection({ name: 'c2', model: 'm', dim: DIM });
    for (const c of ['c1', 'c2']) {
      s.upsertDocument(c, { id: 'd', chunks: chunks(['shared words here', 'more words'], DIM, r) });
      const run = s.startIngestRun(c);
      s.addIngestFiles(run.id, [{ path: '/a' }]);
    }
    const c1 = s.requireCollection('c1');
    expect(s.deleteCollection('c1')).toBe(true);
    expect(s.deleteCollection('c1')).toBe(false);
    const count = (sql: string) => s.db.prepare(sql).pluck().get(c1.id);
    expect(count('SELECT COUNT(*) FROM documents WHERE collection_id = ?')).toBe(0);
    expect(count('SELECT COUNT(*) FROM chunks WHERE collection_id = ?')).toBe(0);
    expect(count('SELECT COUNT(*) FROM ingest_runs WHERE collection_id = ?')).toBe(0);
    expect(s.db.prepare('SELECT COUNT(*) FROM ingest_files').pluck().get()).toBe(1);
    expect(s.db.prepare(`SELECT COUNT(*) FROM sqlite_master WHERE name LIKE ?`).pluck().get(`chunks_fts_${c1.id}%`)).toBe(0);
    expect(s.counts('c2')).toEqual({ documents: 1, chunks: 2, vectors: 2 });
    expect(s.keywordSearch('c2', 'words', 10)).toHaveLength(2);
    // The name can be reused; the new collection starts empty, with its own keyword index.
    s.createCollection({ name: 'c1', model: 'm', dim: DIM });
    expect(s.counts('c1')).toEqual({ documents: 0, chunks: 0, vectors: 0 });
    expect(s.keywordSearch('c1', 'words', 10)).toEqual([]);
    expect(s.integrityCheck()).toBe('ok');
  });

  it('keyword search ranks by BM25, keeps collections apart, applies filters and survives hostile text', () => {
    s.createCollection({ name: 'c', model: 'm', dim: DIM });
    s.createCollection({ name: 'other', model: 'm', dim: DIM });
    s.upsertDocument('c', { id: 'a', metadata: { year: 2001 }, chunks: chunks(['vector search with hnsw graphs', 'graphs graphs graphs and more graphs'], DIM, r) });
    s.upsertDocument('c', { id: 'b', metadata: { year: 2020 }, chunks: chunks(['keyword search with BM25 ranking', 'Café crème brûlée'], DIM, r) });
    s.upsertDocument('other', { id: 'z', chunks: chunks(['graphs everywhere'], DIM, r) });
    const hits = s.keywordSearch('c', 'graphs', 10);
    expect(hits.map((h) => h.chunkId)).toEqual(['a#1', 'a#0']);
    expect(hits[0].score).toBeGreaterThan(hits[1].score);
    expect(hits[0].score).toBeGreaterThan(0);
    expect(s.keywordSearch('c', 'search', 10, { filter: { year: { $gte: 2010 } } }).map((h) => h.chunkId)).toEqual(['b#0']);
    expect(s.keywordSearch('c', 'search ranking', 10, { match: 'all' }).map((h) => h.chunkId)).toEqual(['b#0']);
    expect(s.keywordSearch('c', 'cafe creme', 10).map((h) => h.chunkId)).toEqual(['b#1']); // diacritics folded
    expect(s.keywordSearch('c', 'searching', 10)).toHaveLength(2); // porter stemming
    const hostile = [
      '"', '""', '"unbalanced', '*', 'graph*', 'AND', 'OR', 'NOT', 'NEAR', 'a AND', 'AND OR NOT', '-graphs', 'text:graphs', 'c:graphs',
      '(graphs', 'graphs)', '{text}: graphs', '^graphs', '+graphs', 'NEAR(graphs search, 2)', "'; DROP TABLE chunks; --", '\u0000', '', '   ',
      '🙂 graphs 🙂', 'graphs\nsearch', 'rowid:1', 'c MATCH graphs', '$and', '\\', '%_', 'x'.repeat(10000),
    ];
    for (const q of hostile) expect(() => s.keywordSearch('c', q, 5), q).not.toThrow();
    expect(s.keywordSearch('c', 'text:graphs', 5).length).toBeGreaterThan(0);
    expect(s.keywordSearch('c', '-graphs', 5).length).toBeGreaterThan(0);
    expect(s.keywordSearch('c', 'AND', 5).map((h) => h.chunkId)).toEqual(['a#1']); // a literal word, not an operator
    expect(s.keywordSearch('c', 'NOT', 5)).toEqual([]);
    expect(s.keywordSearch('c', '"', 5)).toEqual([]);
    expect(s.counts('c').chunks).toBe(4);
  });

  it('streams labels and vectors in pages, and fetches vectors for given labels', () => {
    s.createCollection({ name: 'c', model: 'm', dim: DIM });
    const all: Float32Array[] = [];
    for (let d = 0; d < 10; d++) {
      const cs = chunks(Array.from({ length: 7 }, (_, i) => `doc ${d} chunk ${i}`), DIM, r);
      all.push(...cs.map((c) => c.vector as Float32Array));
      s.upsertDocument('c', { id: `d${d}`, chunks: cs });
    }
    s.deleteDocuments('c', ['d3']);
    const batches = [...s.iterateVectors('c', { batchSize: 16 })];
    expect(batches.length).toBe(4);
    const labels = batches.flatMap((b) => [...b.labels]);
    expect(labels).toEqual(Array.from({ length: 70 }, (_, i) => i).filter((l) => l < 21 || l >= 28));
    for (const b of batches) {
      b.labels.forEach((l, i) => expect([...b.vectors.subarray(i * DIM, (i + 1) * DIM)]).toEqual([...all[l]]));
    }
    const some = s.vectorsForLabels('c', [5, 22, 69]);
    expect([...some.labels]).toEqual([5, 69]);
    expect([...some.vectors.subarray(DIM)]).toEqual([...all[69]]);
    expect(s.allowSet('c', {}).size).toBe(63);
  });

  it('finds documents by source and content hash', () => {
    s.createCollection({ name: 'c', model: 'm', dim: DIM });
    s.upsertDocument('c', { id: 'a', source: 'file:///a.txt', contentHash: 'h1', chunks: [] });
    s.upsertDocument('c', { id: 'b', source: 'file:///b.txt', contentHash: 'h1', chunks: [] });
    expect(s.findDocumentBySource('c', 'file:///a.txt')!.id).toBe('a');
    expect(s.findDocumentBySource('c', 'file:///zzz')).toBeUndefined();
    expect(s.findDocument('c', 'file:///a.txt', 'h1')!.id).toBe('a');
    expect(s.findDocument('c', 'file:///a.txt', 'h2')).toBeUndefined();
    expect(s.findDocumentsByHash('c', 'h1').map((d) => d.id)).toEqual(['a', 'b']);
    expect(s.listSources('c')).toEqual([
      { id: 'a', source: 'file:///a.txt' },
      { id: 'b', source: 'file:///b.txt' },
    ]);
    expect(s.listDocuments('c', { limit: 1 }).map((d) => d.id)).toEqual(['a']);
    expect(s.listDocuments('c', { after: 'a' }).map((d) => d.id)).toEqual(['b']);
  });

  it('keeps ingest runs and per-file progress; a file and its document commit together', () => {
    s.createCollection({ name: 'c', model: 'm', dim: DIM });
    const run = s.startIngestRun('c', { chunkSize: 256 });
    expect(run).toMatchObject({ collection: 'c', status: 'running', options: { chunkSize: 256 }, finishedAt: null });
    s.addIngestFiles(run.id, [{ path: '/a.txt', contentHash: 'ha' }, { path: '/b.txt' }, { path: '/c.txt' }]);
    s.transaction(() => {
      s.upsertDocument('c', { id: 'a', source: '/a.txt', chunks: chunks(['aaa'], DIM, r) });
      s.setIngestFileState(run.id, '/a.txt', 'done', { documentId: 'a', chunks: 1 });
    });
    expect(() =>
      s.transaction(() => {
        s.upsertDocument('c', { id: 'b', source: '/b.txt', chunks: chunks(['bbb'], DIM, r) });
        s.setIngestFileState(run.id, '/b.txt', 'done', { documentId: 'b', chunks: 1 });
        throw new Error('killed');
      }),
    ).toThrow('killed');
    s.setIngestFileState(run.id, '/c.txt', 'failed', { error: 'unreadable pdf' });
    expect(s.ingestFileCounts(run.id)).toEqual({ pending: 1, done: 1, skipped: 0, failed: 1 });
    expect(s.listIngestFiles(run.id, { state: 'pending' }).map((f) => f.path)).toEqual(['/b.txt']);
    expect(s.listIngestFiles(run.id, { state: 'done' })[0]).toMatchObject({ path: '/a.txt', contentHash: 'ha', documentId: 'a', chunks: 1 });
    expect(s.getDocument('c', 'b')).toBeUndefined();
    expect(s.listIngestRuns('c', { status: 'running' }).map((x) => x.id)).toEqual([run.id]);
    const done = s.finishIngestRun(run.id, 'done', { files: 3, chunks: 1 });
    expect(done.status).toBe('done');
    expect(done.finishedAt).not.toBeNull();
    expect(done.counters).toEqual({ files: 3, chunks: 1 });
    expect(s.listIngestRuns('c', { status: 'running' })).toEqual([]);
  });

  it('opens read-only', () => {
    s.createCollection({ name: 'c', model: 'm', dim: DIM });
    const ro = openStore(s.path, { readonly: true });
    expect(ro.listCollections()).toHaveLength(1);
    expect(() => ro.createCollection({ name: 'x', model: 'm', dim: 2 })).toThrow(/readonly/i);
    ro.close();
  });
});
