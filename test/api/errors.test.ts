import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, seed, testServer, type TestServer } from './helpers.ts';

let srv: TestServer;
beforeAll(async () => {
  srv = await testServer({ bodyLimit: 64 * 1024, limits: { fileBytes: 4096 }, config: { embed: { maxQueue: 8 } } });
  await seed(srv);
});
afterAll(async () => srv?.close());

/** Everything stored: collections with their counts, next label and every document's updatedAt. */
function snapshot(): unknown {
  const t = srv.t;
  return t.store.listCollections().map((c) => ({
    c,
    counts: t.store.counts(c.name),
    docs: t.store.listDocuments(c.name, { limit: 10_000 }).map((d) => [d.id, d.updatedAt, d.metadata]),
  }));
}

const vec = (n: number) => Array.from({ length: n }, () => 0.1);

interface Case {
  name: string;
  status: number;
  code?: string;
  field?: string | RegExp;
  method: string;
  path: string;
  json?: unknown;
  raw?: string;
  type?: string;
  form?: () => FormData;
  token?: 'admin' | 'write' | 'read';
}

const CASES: Case[] = [
  // 400: validation, naming the field
  { name: 'k below 1', status: 400, code: 'INVALID_ARGUMENT', field: 'k', method: 'POST', path: '/v1/collections/docs/search', json: { text: 'x', k: 0 } },
  { name: 'k not a number', status: 400, field: 'k', method: 'POST', path: '/v1/collections/docs/search', json: { text: 'x', k: 'five' } },
  { name: 'unknown body field', status: 400, method: 'POST', path: '/v1/collections/docs/search', json: { text: 'x', kk: 1 } },
  { name: 'neither text nor vector', status: 400, field: 'text', method: 'POST', path: '/v1/collections/docs/search', json: { k: 3 } },
  { name: 'bad mode', status: 400, field: 'mode', method: 'POST', path: '/v1/collections/docs/search', json: { text: 'x', mode: 'fuzzy' } },
  { name: 'keyword mode with a vector', status: 400, field: 'mode', method: 'POST', path: '/v1/collections/docs/search', json: { vector: vec(256), mode: 'keyword' } },
  { name: 'bad filter operator', status: 400, code: 'INVALID_FILTER', field: 'filter.i', method: 'POST', path: '/v1/collections/docs/search', json: { text: 'x', filter: { i: { $regex: 'a' } } } },
  { name: 'malformed JSON', status: 400, code: 'INVALID_JSON', field: 'body', method: 'POST', path: '/v1/collections/docs/search', raw: '{"text": ', type: 'application/json' },
  { name: 'bad collection name in path', status: 400, field: 'collection', method: 'POST', path: '/v1/collections/bad$name/search', json: { text: 'x' } },
  { name: 'ask without question', status: 400, field: 'question', method: 'POST', path: '/v1/collections/docs/ask', json: { k: 3 } },
  { name: 'embeddings without input', status: 400, field: 'input', method: 'POST', path: '/v1/embeddings', json: { model: 'docs' } },
  { name: 'job list bad state', status: 400, field: 'state', method: 'GET', path: '/v1/jobs?state=done', token: 'write' },
  // 400 on writes: nothing stored
  { name: 'create: bad name', status: 400, field: 'name', method: 'POST', path: '/v1/collections', json: { name: '-x' }, token: 'admin' },
  { name: 'create: bad metric', status: 400, field: 'metric', method: 'POST', path: '/v1/collections', json: { name: 'x1', metric: 'hamming' }, token: 'admin' },
  { name: 'create: text model for image', status: 400, field: 'model', method: 'POST', path: '/v1/collections', json: { name: 'x2', kind: 'image' }, token: 'admin' },
  { name: 'upsert: doc without text or vector', status: 400, field: 'documents.0.text', method: 'POST', path: '/v1/collections/docs/documents', json: { documents: [{ id: 'n1' }] }, token: 'write' },
  { name: 'upsert: bad metadata value (2nd doc)', status: 400, field: /^documents\.1\.metadata\.o$/, method: 'POST', path: '/v1/collections/docs/documents', json: { documents: [{ id: 'n1', text: 'fine' }, { id: 'n2', text: 'x', metadata: { o: { nested: 1 } } }] }, token: 'write' },
  { name: 'upsert: bad metadata key (2nd doc)', status: 400, field: 'documents.1.metadata', method: 'POST', path: '/v1/collections/docs/documents', json: { documents: [{ id: 'n1', text: 'fine' }, { id: 'n2', text: 'x', metadata: { $bad: 1 } }] }, token: 'write' },
  { name: 'upsert: duplicate ids', status: 400, field: 'documents.1.id', method: 'POST', path: '/v1/collections/docs/documents', json: { documents: [{ id: 's1', text: 'a' }, { id: 's1', text: 'b' }] }, token: 'write' },
  { name: 'upsert: empty list', status: 400, field: 'documents', method: 'POST', path: '/v1/collections/docs/documents', json: { documents: [] }, token: 'write' },
  { name: 'delete: ids and filter', status: 400, field: 'ids', method: 'POST', path: '/v1/collections/docs/documents/delete', json: { ids: ['s1'], filter: { i: 1 } }, token: 'write' },
  { name: 'delete: bad filter', status: 400, code: 'INVALID_FILTER', field: 'filter.i', method: 'POST', path: '/v1/collections/docs/documents/delete', json: { filter: { i: { $gt: 'a' } } }, token: 'write' },
  { name: 'delete: empty filter', status: 400, code: 'INVALID_FILTER', field: 'filter', method: 'POST', path: '/v1/collections/docs/documents/delete', json: { filter: {} }, token: 'write' },
  { name: 'upload: no file', status: 400, field: 'files', method: 'POST', path: '/v1/collections/docs/documents/upload', form: () => { const f = new FormData(); f.append('metadata', '{}'); return f; }, token: 'write' },
  { name: 'upload: metadata not JSON', status: 400, field: 'metadata', method: 'POST', path: '/v1/collections/docs/documents/upload', form: () => { const f = new FormData(); f.append('files', new Blob(['hi']), 'a.txt'); f.append('metadata', '{nope'); return f; }, token: 'write' },
  { name: 'job: unknown kind', status: 400, field: 'kind', method: 'POST', path: '/v1/jobs', json: { kind: 'nope' }, token: 'write' },
  { name: 'job: ingest of a missing path', status: 400, method: 'POST', path: '/v1/jobs', json: { kind: 'ingest', params: { collection: 'docs', paths: ['/no/such/dir'] } }, token: 'write' },
  // 404
  { name: 'search unknown collection', status: 404, method: 'POST', path: '/v1/collections/nope/search', json: { text: 'x' } },
  { name: 'get unknown collection', status: 404, method: 'GET', path: '/v1/collections/nope' },
  { name: 'delete unknown collection', status: 404, method: 'DELETE', path: '/v1/collections/nope', token: 'admin' },
  { name: 'upsert into unknown collection', status: 404, method: 'POST', path: '/v1/collections/nope/documents', json: { documents: [{ id: 'a', text: 'a' }] }, token: 'write' },
  { name: 'unknown document', status: 404, field: 'id', method: 'GET', path: '/v1/collections/docs/documents/nope' },
  { name: 'delete unknown document', status: 404, method: 'DELETE', path: '/v1/collections/docs/documents/nope', token: 'write' },
  { name: 'unknown job', status: 404, method: 'GET', path: '/v1/jobs/job_nope', token: 'write' },
  { name: 'cancel unknown job', status: 404, method: 'POST', path: '/v1/jobs/job_nope/cancel', token: 'write' },
  { name: 'unknown model', status: 404, code: 'MODEL_NOT_FOUND', method: 'POST', path: '/v1/embeddings', json: { model: 'no-such-model', input: 'x' } },
  { name: 'unknown route', status: 404, method: 'GET', path: '/v1/nothing' },
  // 409
  { name: 'collection exists', status: 409, code: 'ALREADY_EXISTS', field: 'name', method: 'POST', path: '/v1/collections', json: { name: 'docs' }, token: 'admin' },
  // 413
  { name: 'JSON body over the limit', status: 413, code: 'PAYLOAD_TOO_LARGE', method: 'POST', path: '/v1/collections/docs/documents', json: { documents: [{ id: 'big', text: 'word '.repeat(20_000) }] }, token: 'write' },
  { name: 'uploaded file over the limit', status: 413, code: 'LIMIT_FILE_SIZE', method: 'POST', path: '/v1/collections/docs/documents/upload', form: () => { const f = new FormData(); f.append('files', new Blob(['x'.repeat(10_000)]), 'big.txt'); return f; }, token: 'write' },
  // 415
  { name: 'search with text/plain', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', method: 'POST', path: '/v1/collections/docs/search', raw: 'recall', type: 'text/plain' },
  { name: 'upsert with form data', status: 415, method: 'POST', path: '/v1/collections/docs/documents', raw: 'a=b', type: 'application/x-www-form-urlencoded', token: 'write' },
  { name: 'upload as JSON', status: 415, method: 'POST', path: '/v1/collections/docs/documents/upload', json: { files: [] }, token: 'write' },
  { name: 'upload of an unsupported file type', status: 415, field: 'files', method: 'POST', path: '/v1/collections/docs/documents/upload', form: () => { const f = new FormData(); f.append('files', new Blob(['MZ']), 'tool.exe'); return f; }, token: 'write' },
  { name: 'upload of an image into a text collection', status: 415, method: 'POST', path: '/v1/collections/docs/documents/upload', form: () => { const f = new FormData(); f.append('files', new Blob(['x']), 'pic.png'); return f; }, token: 'write' },
  // 422
  { name: 'search vector of the wrong dimension', status: 422, code: 'DIMENSION_MISMATCH', field: 'vector', method: 'POST', path: '/v1/collections/docs/search', json: { vector: vec(3) } },
  { name: 'upsert vector of the wrong dimension (2nd doc)', status: 422, code: 'DIMENSION_MISMATCH', field: 'documents.1.vector', method: 'POST', path: '/v1/collections/docs/documents', json: { documents: [{ id: 'ok', vector: vec(256) }, { id: 'bad', vector: vec(255) }] }, token: 'write' },
];

describe('error cases: status, {error: {code, message, field}}, and nothing stored changes', () => {
  for (const c of CASES) {
    it(`${c.status} ${c.name}`, async () => {
      const before = snapshot();
      const r = await call(srv.url, c.method, c.path, { token: srv.tokens[c.token ?? 'read'], json: c.json, raw: c.raw, type: c.type, form: c.form?.() });
      expect(r.status, r.text).toBe(c.status);
      expect(typeof r.body.error.message).toBe('string');
      expect(typeof r.body.error.code).toBe('string');
      if (c.code) expect(r.body.error.code).toBe(c.code);
      if (c.field) expect(r.body.error.field).toMatch(c.field instanceof RegExp ? c.field : new RegExp(`^${c.field.replace(/[.$]/g, '\\$&')}$`));
      expect(snapshot()).toEqual(before);
    });
  }
});

describe('503 + Retry-After', () => {
  it('when the embedding queue is full', async () => {
    const before = snapshot();
    const input = Array.from({ length: 9 }, (_, i) => `text number ${i}`);
    const r = await call(srv.url, 'POST', '/v1/embeddings', { token: srv.tokens.read, json: { model: 'docs', input } });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('OVERLOADED');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const u = await call(srv.url, 'POST', '/v1/collections/docs/documents', { token: srv.tokens.write, json: { documents: [{ id: 'q', text: Array.from({ length: 40 }, (_, i) => `Sentence number ${i} is here.`).join(' '), chunkSize: 8, chunkOverlap: 0 }] } });
    expect(u.status).toBe(503);
    expect(snapshot()).toEqual(before);
  });

  it('when the server is not ready', async () => {
    srv.s.app.trellis.ready = false;
    try {
      const z = await call(srv.url, 'GET', '/readyz');
      expect(z.status).toBe(503);
      expect(z.headers.get('retry-after')).toBe('1');
      const r = await call(srv.url, 'POST', '/v1/collections/docs/search', { token: srv.tokens.read, json: { text: 'x' } });
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('NOT_READY');
      expect(r.headers.get('retry-after')).toBe('1');
      expect((await call(srv.url, 'GET', '/healthz')).status).toBe(200);
    } finally {
      srv.s.app.trellis.ready = true;
    }
    expect((await call(srv.url, 'GET', '/readyz')).status).toBe(200);
  });
});
