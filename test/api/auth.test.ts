import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, seed, testServer, type TestServer } from './helpers.ts';

let srv: TestServer;
let pub: TestServer;
beforeAll(async () => {
  srv = await testServer();
  await seed(srv);
  pub = await testServer({ public: true, rateLimit: { perSecond: 2, burst: 3 }, cors: ['https://app.example'] });
  await seed(pub);
});
afterAll(async () => {
  await srv?.close();
  await pub?.close();
});

type Tok = keyof TestServer['tokens'] | 'none';
const ENDPOINTS: { name: string; scope: 'read' | 'write' | 'admin'; method: string; path: string; json?: unknown }[] = [
  { name: 'list collections', scope: 'read', method: 'GET', path: '/v1/collections' },
  { name: 'search', scope: 'read', method: 'POST', path: '/v1/collections/docs/search', json: { text: 'recall', k: 1 } },
  { name: 'ask', scope: 'read', method: 'POST', path: '/v1/collections/docs/ask', json: { question: 'recall?', k: 1 } },
  { name: 'get document', scope: 'read', method: 'GET', path: '/v1/collections/docs/documents/s1' },
  { name: 'embeddings', scope: 'read', method: 'POST', path: '/v1/embeddings', json: { model: 'docs', input: 'x' } },
  { name: 'upsert', scope: 'write', method: 'POST', path: '/v1/collections/docs/documents', json: { documents: [{ id: 's1', text: 'SQLite in WAL mode keeps documents durable across crashes.', metadata: { i: 1, group: 'odd' } }] } },
  { name: 'list jobs', scope: 'write', method: 'GET', path: '/v1/jobs' },
  { name: 'create collection', scope: 'admin', method: 'POST', path: '/v1/collections', json: { name: 'c_' } },
];
const RANK = { read: 1, write: 2, admin: 3 } as const;

describe('auth matrix', () => {
  for (const ep of ENDPOINTS) {
    it(`${ep.name} (${ep.scope})`, async () => {
      for (const tok of ['none', 'unknown', 'expired', 'revoked', 'read', 'write', 'admin'] as Tok[]) {
        const json = ep.name === 'create collection' && ep.json ? { name: `c_${tok}` } : ep.json;
        const r = await call(srv.url, ep.method, ep.path, { token: tok === 'none' ? undefined : srv.tokens[tok], json });
        if (tok === 'none' || tok === 'unknown' || tok === 'expired' || tok === 'revoked') {
          expect(r.status, `${tok}`).toBe(401);
          expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
          expect(r.body.error.code).toBe({ none: 'UNAUTHENTICATED', unknown: 'INVALID_TOKEN', expired: 'TOKEN_EXPIRED', revoked: 'TOKEN_REVOKED' }[tok]);
        } else if (RANK[tok] < RANK[ep.scope]) {
          expect(r.status, `${tok}`).toBe(403);
          expect(r.body.error).toMatchObject({ code: 'FORBIDDEN', field: 'authorization' });
        } else {
          expect(r.status, `${tok}: ${r.text}`).toBeLessThan(300);
        }
      }
    });
  }

  it('a malformed Authorization header is 401', async () => {
    const r = await call(srv.url, 'GET', '/v1/collections', { headers: { authorization: 'Basic abc' } });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('INVALID_TOKEN');
  });

  it('system routes need no token', async () => {
    for (const p of ['/healthz', '/readyz', '/metrics', '/openapi.json']) expect((await call(srv.url, 'GET', p)).status).toBe(200);
  });
});

describe('--public, rate limits, CORS', () => {
  it('public opens reads, not writes; a bad token is still refused', async () => {
    expect((await call(pub.url, 'POST', '/v1/collections/docs/search', { json: { text: 'recall', k: 1 } })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1600)); // refill the anonymous bucket
    const w = await call(pub.url, 'POST', '/v1/collections/docs/documents', { json: { documents: [{ id: 'x', text: 'x' }] } });
    expect(w.status).toBe(401);
    expect((await call(pub.url, 'GET', '/v1/collections', { token: pub.tokens.revoked })).status).toBe(401);
  });

  it('per-token token bucket: 429 + Retry-After past the burst, other tokens unaffected', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 6; i++) {
      const r = await call(pub.url, 'GET', '/v1/collections', { token: pub.tokens.write });
      statuses.push(r.status);
      if (r.status === 429) {
        retryAfter = r.headers.get('retry-after');
        expect(r.body.error.code).toBe('RATE_LIMITED');
      }
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await call(pub.url, 'GET', '/v1/collections', { token: pub.tokens.admin })).status).toBe(200);
  });

  it('CORS: allowed origin gets headers, preflight answers', async () => {
    const pre = await fetch(`${pub.url}/v1/collections/docs/search`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/Authorization/i);
    const other = await fetch(`${pub.url}/healthz`, { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
