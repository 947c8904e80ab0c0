import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIP_DIR, cocoImages } from '../embed/helpers.ts';
import { call, seed, SENTENCES, testServer, type TestServer } from './helpers.ts';

let srv: TestServer;
beforeAll(async () => {
  srv = await testServer();
  await seed(srv);
});
afterAll(async () => srv?.close());

describe('system routes', () => {
  it('healthz, readyz, metrics, openapi.json, docs', async () => {
    expect((await call(srv.url, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
    expect((await call(srv.url, 'GET', '/readyz')).status).toBe(200);
    await call(srv.url, 'POST', '/v1/collections/docs/search', { token: srv.tokens.read, json: { text: 'recall', k: 2 } });
    const m = await call(srv.url, 'GET', '/metrics');
    expect(m.status).toBe(200);
    expect(m.text).toMatch(/trellis_http_request_duration_seconds_bucket\{.*route="\/v1\/collections\/:collection\/search".*status="200"/);
    expect(m.text).toMatch(/trellis_embed_queue_depth\{model="trellis-static-wp256/);
    expect(m.text).toMatch(/trellis_embed_batch_size_runs\{model=.*size="\d+"\}/);
    expect(m.text).toMatch(/trellis_index_vectors\{collection="docs"\} 6/);
    const o = await call(srv.url, 'GET', '/openapi.json');
    expect(o.body.openapi).toBe('3.1.0');
    const search = o.body.paths['/v1/collections/{collection}/search'].post;
    expect(search.requestBody.content['application/json'].schema.properties.k).toMatchObject({ type: 'integer', minimum: 1 });
    expect(o.body.paths['/v1/embeddings'].post.requestBody.content['application/json'].schema.required).toContain('input');
    const d = await fetch(`${srv.url}/docs`, { redirect: 'follow' });
    expect(d.status).toBe(200);
    expect(await d.text()).toContain('swagger-ui');
    const init = await call(srv.url, 'GET', '/docs/swagger-initializer.js');
    expect(init.text).toContain('/openapi.json');
    expect((await fetch(`${srv.url}/docs/swagger-ui-bundle.js`)).status).toBe(200);
  });
});

describe('collections', () => {
  it('create, list, get (stats), delete', async () => {
    const c = await call(srv.url, 'POST', '/v1/collections', { token: srv.tokens.admin, json: { name: 'tmp', metric: 'ip', efSearch: 32 } });
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ name: 'tmp', metric: 'ip', efSearch: 32, dim: 256, documents: 0 });
    const list = await call(srv.url, 'GET', '/v1/collections', { token: srv.tokens.read });
    expect(list.body.collections.map((x: { name: string }) => x.name).sort()).toEqual(['docs', 'tmp']);
    const g = await call(srv.url, 'GET', '/v1/collections/docs', { token: srv.tokens.read });
    expect(g.body).toMatchObject({ name: 'docs', documents: 6, chunks: 6, vectors: 6, indexed: 6 });
    expect(g.body.indexBytes).toBeGreaterThan(0);
    expect((await call(srv.url, 'DELETE', '/v1/collections/tmp', { token: srv.tokens.admin })).body).toEqual({ deleted: 'tmp' });
    expect((await call(srv.url, 'GET', '/v1/collections/tmp', { token: srv.tokens.read })).status).toBe(404);
  });
});

describe('documents', () => {
  it('upsert text and precomputed vectors, fetch, delete by id and by filter', async () => {
    const vec = Array.from({ length: 256 }, (_, i) => (i === 3 ? 1 : 0));
    const up = await call(srv.url, 'POST', '/v1/collections/docs/documents', {
      token: srv.tokens.write,
      json: { documents: [{ id: 'v1', vector: vec, text: 'a vector document', metadata: { kind: 'vec' } }, { id: 'long', text: SENTENCES.join('\n\n').repeat(8), chunkSize: 32, chunkOverlap: 4, metadata: { kind: 'long' } }] },
    });
    expect(up.status).toBe(200);
    expect(up.body.upserted[0]).toEqual({ id: 'v1', chunks: 1, created: true });
    expect(up.body.upserted[1].chunks).toBeGreaterThan(3);
    const got = await call(srv.url, 'GET', '/v1/collections/docs/documents/v1?vectors=true', { token: srv.tokens.read });
    expect(got.body).toMatchObject({ id: 'v1', metadata: { kind: 'vec' } });
    expect(got.body.chunks[0].vector).toEqual(vec);
    const hit = await call(srv.url, 'POST', '/v1/collections/docs/search', { token: srv.tokens.read, json: { vector: vec, k: 1 } });
    expect(hit.body.results[0]).toMatchObject({ id: 'v1#0', text: 'a vector document' });
    expect(hit.body.results[0].score).toBeCloseTo(1, 5);

    expect((await call(srv.url, 'DELETE', '/v1/collections/docs/documents/v1', { token: srv.tokens.write })).body.deleted).toEqual(['v1']);
    expect((await call(srv.url, 'GET', '/v1/collections/docs/documents/v1', { token: srv.tokens.read })).status).toBe(404);
    const byFilter = await call(srv.url, 'POST', '/v1/collections/docs/documents/delete', { token: srv.tokens.write, json: { filter: { kind: 'long' } } });
    expect(byFilter.body.deleted).toEqual(['long']);
    const g = await call(srv.url, 'GET', '/v1/collections/docs', { token: srv.tokens.read });
    expect(g.body).toMatchObject({ documents: 6, vectors: 6, indexed: 6 });
  });

  it('uploads files through the ingest pipeline; a large upload becomes a job', async () => {
    await call(srv.url, 'POST', '/v1/collections', { token: srv.tokens.admin, json: { name: 'files' } });
    const form = new FormData();
    form.append('files', new Blob(['# Notes\n\nEfSearch controls the beam width of HNSW search.']), 'notes.md');
    form.append('files', new Blob(['Plain text about WAL checkpoints.']), 'plain.txt');
    form.append('metadata', JSON.stringify({ team: 'search' }));
    const r = await call(srv.url, 'POST', '/v1/collections/files/documents/upload', { token: srv.tokens.write, form });
    expect(r.status).toBe(200);
    expect(r.body.ingested).toMatchObject({ files: 2, documents: 2 });
    const s = await call(srv.url, 'POST', '/v1/collections/files/search', { token: srv.tokens.read, json: { text: 'beam width', k: 1, mode: 'keyword', filter: { team: 'search' } } });
    expect(s.body.results[0].text).toContain('beam width');

    const big = new FormData();
    for (let i = 0; i < 12; i++) big.append('files', new Blob([`File number ${i} talks about topic ${i}.`]), `f${i}.txt`);
    const j = await call(srv.url, 'POST', '/v1/collections/files/documents/upload', { token: srv.tokens.write, form: big });
    expect(j.status).toBe(202);
    expect(j.headers.get('location')).toBe(`/v1/jobs/${j.body.job.id}`);
    const done = await waitJob(j.body.job.id);
    expect(done.state).toBe('succeeded');
    expect((await call(srv.url, 'GET', '/v1/collections/files', { token: srv.tokens.read })).body.documents).toBe(14);
  });
});

describe('search', () => {
  it('by text in every mode, with filter, include and efSearch', async () => {
    for (const mode of ['vector', 'keyword', 'hybrid']) {
      const r = await call(srv.url, 'POST', '/v1/collections/docs/search', { token: srv.tokens.read, json: { text: 'recall against speed efSearch', k: 3, mode, efSearch: 32 } });
      expect(r.status).toBe(200);
      expect(r.body.results[0]).toMatchObject({ id: 's0#0', text: SENTENCES[0], metadata: { i: 0, group: 'even' } });
      expect(r.body.timings).toHaveProperty('searchMs');
    }
    const f = await call(srv.url, 'POST', '/v1/collections/docs/search', { token: srv.tokens.read, json: { text: 'recall', k: 10, filter: { group: 'odd' }, include: ['metadata'] } });
    expect(f.body.results).toHaveLength(3);
    for (const x of f.body.results) {
      expect(x.metadata.group).toBe('odd');
      expect(x).not.toHaveProperty('text');
    }
  });

  it('by image (multipart) and text-to-image on an image collection', async () => {
    await srv.t.embed.registry.importDir(CLIP_DIR, { name: 'tiny-clip' });
    const c = await call(srv.url, 'POST', '/v1/collections', { token: srv.tokens.admin, json: { name: 'pics', kind: 'image', model: 'tiny-clip' } });
    expect(c.status).toBe(201);
    const imgs = cocoImages(3);
    const form = new FormData();
    for (const p of imgs) form.append('files', new Blob([readFileSync(p)]), basename(p));
    const up = await call(srv.url, 'POST', '/v1/collections/pics/documents/upload', { token: srv.tokens.write, form });
    expect([200, 202]).toContain(up.status);
    if (up.status === 202) await waitJob(up.body.job.id);
    const q = new FormData();
    q.append('image', new Blob([readFileSync(imgs[1])]), 'q.jpg');
    q.append('k', '2');
    const r = await call(srv.url, 'POST', '/v1/collections/pics/search', { token: srv.tokens.read, form: q });
    expect(r.status).toBe(200);
    expect(r.body.results[0].id).toContain(basename(imgs[1]));
    expect(r.body.results[0].score).toBeCloseTo(1, 4);
    const tti = await call(srv.url, 'POST', '/v1/collections/pics/search', { token: srv.tokens.read, json: { text: 'a photo of a dog', k: 3 } });
    expect(tti.status).toBe(200);
    expect(tti.body.results).toHaveLength(3);
  });
});

describe('ask', () => {
  it('returns a cited answer with per-step timings', async () => {
    const r = await call(srv.url, 'POST', '/v1/collections/docs/ask', { token: srv.tokens.read, json: { question: 'How do I trade recall against speed?', k: 3 } });
    expect(r.status).toBe(200);
    expect(r.body.answer).toMatch(/\[1\]/);
    expect(r.body.citations[0]).toMatchObject({ n: 1, id: 's0#0', documentId: 's0' });
    expect(r.body.timings.totalMs).toBeGreaterThan(0);
    expect(r.body.steps.map((s: { name: string }) => s.name)).toContain('retrieve');
  });

  it('streams server-sent events: citations, tokens, done', async () => {
    const res = await fetch(`${srv.url}/v1/collections/docs/ask`, {
      method: 'POST',
      headers: { authorization: `Bearer ${srv.tokens.read}`, 'content-type': 'application/json' },
      body: JSON.stringify({ question: 'How do I trade recall against speed?', k: 3, stream: true }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events: { event: string; data: any }[] = [];
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let chunks = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks++;
      buf += value;
      let at: number;
      while ((at = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, at);
        buf = buf.slice(at + 2);
        const ev = /^event: (.*)$/m.exec(block)![1]!;
        const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]!);
        events.push({ event: ev, data });
      }
    }
    expect(events[0]!.event).toBe('citations');
    expect(events.at(-1)!.event).toBe('done');
    const tokens = events.filter((e) => e.event === 'token').map((e) => e.data.text);
    expect(tokens.length).toBeGreaterThan(1);
    expect(tokens.join('')).toBe(events.at(-1)!.data.answer);
    expect(events.at(-1)!.data.citations[0].id).toBe('s0#0');
    expect(chunks).toBeGreaterThanOrEqual(1);
  });
});

describe('ask: client disconnect', () => {
  it('a client that goes away mid-stream does not break the server', async () => {
    const ac = new AbortController();
    const res = await fetch(`${srv.url}/v1/collections/docs/ask`, {
      method: 'POST',
      headers: { authorization: `Bearer ${srv.tokens.read}`, 'content-type': 'application/json' },
      body: JSON.stringify({ question: 'What keeps documents durable?', k: 3, stream: true }),
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await new Promise((r) => setTimeout(r, 50));
    const again = await call(srv.url, 'POST', '/v1/collections/docs/ask', { token: srv.tokens.read, json: { question: 'What keeps documents durable?', k: 3 } });
    expect(again.status).toBe(200);
    expect(srv.s.app.trellis.inFlight).toBe(0);
  });
});

describe('OpenAI-compatible embeddings', () => {
  it('the official openai client gets the runner’s vectors (base64 default and float)', async () => {
    const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: srv.tokens.read });
    const input = ['vector search with HNSW', 'a second, longer sentence about SQLite and WAL checkpoints'];
    const model = await srv.t.modelFor('docs');
    const want = await model.embedTexts(input);
    for (const encoding_format of [undefined, 'float'] as const) {
      const r = await client.embeddings.create({ model: 'docs', input, ...(encoding_format ? { encoding_format } : {}) });
      expect(r.object).toBe('list');
      expect(r.model).toBe('docs');
      expect(r.data).toHaveLength(2);
      expect(r.usage.prompt_tokens).toBeGreaterThan(0);
      expect(r.usage.total_tokens).toBe(r.usage.prompt_tokens);
      r.data.forEach((d, i) => {
        expect(d.object).toBe('embedding');
        expect(d.index).toBe(i);
        expect(Float32Array.from(d.embedding)).toEqual(want.vectors.subarray(i * 256, (i + 1) * 256));
      });
    }
    const byTag = await client.embeddings.create({ model: model.tag, input: 'one string' });
    expect(byTag.data[0]!.embedding).toHaveLength(256);
    await expect(client.embeddings.create({ model: 'no-such-model', input: 'x' })).rejects.toMatchObject({ status: 404 });
  });
});

describe('jobs', () => {
  it('submit, status, result, cancel, retry', async () => {
    const bad = await call(srv.url, 'POST', '/v1/jobs', { token: srv.tokens.write, json: { kind: 'nope', params: {} } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('kind');
    const j = await call(srv.url, 'POST', '/v1/jobs', { token: srv.tokens.write, json: { kind: 'ingest', params: { collection: 'files', paths: ['data/demo/docs'] } } });
    expect(j.status).toBe(202);
    const done = await waitJob(j.body.id);
    expect(done.state).toBe('succeeded');
    const res = await call(srv.url, 'GET', `/v1/jobs/${j.body.id}/result`, { token: srv.tokens.write });
    expect(res.body.result.documents).toBeGreaterThan(0);
    expect((await call(srv.url, 'POST', `/v1/jobs/${j.body.id}/cancel`, { token: srv.tokens.write })).status).toBe(409);
    expect((await call(srv.url, 'POST', `/v1/jobs/${j.body.id}/retry`, { token: srv.tokens.write })).status).toBe(409);
    const list = await call(srv.url, 'GET', '/v1/jobs?state=succeeded&limit=5', { token: srv.tokens.write });
    expect(list.body.jobs.some((x: { id: string }) => x.id === j.body.id)).toBe(true);
    // reindex: queue then cancel right away or let it finish; either way cancel/retry answer sensibly
    const r = await call(srv.url, 'POST', '/v1/jobs', { token: srv.tokens.write, json: { kind: 'reindex', params: { collection: 'docs' } } });
    expect(r.status).toBe(202);
    const c = await call(srv.url, 'POST', `/v1/jobs/${r.body.id}/cancel`, { token: srv.tokens.write });
    if (c.status === 200) {
      const fin = await waitJob(r.body.id);
      if (fin.state === 'cancelled') {
        const again = await call(srv.url, 'POST', `/v1/jobs/${r.body.id}/retry`, { token: srv.tokens.write });
        expect(again.status).toBe(202);
        expect(again.body.attempts).toBe(2);
        expect((await waitJob(r.body.id)).state).toBe('succeeded');
      }
    } else expect(c.status).toBe(409);
    expect((await call(srv.url, 'GET', '/v1/jobs/job_nope', { token: srv.tokens.write })).status).toBe(404);
  });
});

async function waitJob(id: string, timeoutMs = 30_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(srv.url, 'GET', `/v1/jobs/${id}`, { token: srv.tokens.write });
    if (['succeeded', 'failed', 'cancelled'].includes(r.body.state)) return r.body;
    if (Date.now() > until) throw new Error(`job ${id} still ${r.body.state}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}
