import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer, type ServerOptions } from '../../src/api/server.ts';
import { openTrellis, type Trellis } from '../../src/context.ts';
import type { ConfigOverrides } from '../../src/config.ts';
import { TokenStore } from '../../src/store/index.ts';

export interface TestServer {
  url: string;
  home: string;
  t: Trellis;
  s: RunningServer;
  tokens: { admin: string; write: string; read: string; expired: string; revoked: string; unknown: string };
  close(): Promise<void>;
}

/** A real server on an ephemeral 127.0.0.1 port over a fresh TRELLIS_HOME, with one token of each kind. */
export async function testServer(opts: ServerOptions & { config?: ConfigOverrides } = {}): Promise<TestServer> {
  const home = mkdtempSync(join(tmpdir(), 'trellis-api-'));
  const t = openTrellis({ home, ...opts.config, embed: { intraOpThreads: 1, ...opts.config?.embed } });
  const ts = new TokenStore(t.store);
  const admin = ts.create({ name: 'admin', scope: 'admin' }).token;
  const write = ts.create({ name: 'write', scope: 'write' }).token;
  const read = ts.create({ name: 'read', scope: 'read' }).token;
  const expired = ts.create({ name: 'expired', scope: 'admin', expiresInMs: 1 }).token;
  const revoked = ts.create({ name: 'revoked', scope: 'admin' }).token;
  ts.revoke('revoked');
  await new Promise((r) => setTimeout(r, 5));
  const s = await startServer(t, { host: '127.0.0.1', port: 0, waitReady: true, rateLimit: { perSecond: 0 }, log: () => {}, ...opts });
  return {
    url: s.url,
    home,
    t,
    s,
    tokens: { admin, write, read, expired, revoked, unknown: 'trl_' + 'x'.repeat(43) },
    async close() {
      await s.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** fetch + JSON: `json` is sent as application/json, `form` as multipart; `raw` sends the body as is. */
export async function call<T = any>(
  base: string,
  method: string,
  path: string,
  o: { token?: string; json?: unknown; form?: FormData; raw?: string | Uint8Array; type?: string; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let body: BodyInit | undefined;
  if (o.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(o.json);
  } else if (o.form) body = o.form;
  else if (o.raw !== undefined) {
    body = o.raw as BodyInit;
    if (o.type) headers['content-type'] = o.type;
  }
  const res = await fetch(base + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

export const SENTENCES = [
  'HNSW graphs trade recall against speed through the efSearch parameter.',
  'SQLite in WAL mode keeps documents durable across crashes.',
  'Cosine similarity compares the angle between two embedding vectors.',
  'The adaptive batcher groups queued texts of similar length.',
  'Reciprocal rank fusion merges keyword and vector rankings.',
  'An API token is stored hashed and shown only once.',
];

/** Creates collection `name` and upserts SENTENCES as documents s0..s5 with metadata {i, group}. */
export async function seed(srv: TestServer, name = 'docs'): Promise<void> {
  let r = await call(srv.url, 'POST', '/v1/collections', { token: srv.tokens.admin, json: { name } });
  if (r.status !== 201) throw new Error(`create: ${r.status} ${r.text}`);
  r = await call(srv.url, 'POST', `/v1/collections/${name}/documents`, {
    token: srv.tokens.write,
    json: { documents: SENTENCES.map((text, i) => ({ id: `s${i}`, text, metadata: { i, group: i % 2 ? 'odd' : 'even' } })) },
  });
  if (r.status !== 200) throw new Error(`upsert: ${r.status} ${r.text}`);
}
