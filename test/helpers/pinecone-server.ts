import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseFilter } from '../../src/store/filter.ts';

/**
 * A local stand-in for one Pinecone serverless index's data plane, on 127.0.0.1 (ephemeral port), speaking the
 * wire protocol that @pinecone-database/pinecone 8.x sends (read from its generated client,
 * dist/pinecone-generated-ts-fetch/db_data: apis/VectorOperationsApi.js and models/*.js):
 *
 *   POST /vectors/upsert          {vectors: [{id, values, sparseValues?, metadata?}], namespace}  -> {upsertedCount}
 *   POST /query                   {namespace, topK, filter?, includeValues?, includeMetadata?, vector | id}
 *                                 -> {matches: [{id, score, values, metadata?}], namespace, usage: {readUnits}}
 *   GET  /vectors/fetch?ids=a&ids=b&namespace=ns  -> {vectors: {id: {id, values, metadata?}}, namespace, usage}
 *   POST /vectors/delete          {ids? | deleteAll? | filter?, namespace}  -> {}
 *   POST /vectors/update          {id, values?, setMetadata?, namespace}    -> {}
 *   POST /describe_index_stats    {filter?} -> {namespaces: {ns: {vectorCount}}, dimension, indexFullness,
 *                                              totalVectorCount, metric, vectorType}
 *
 * Headers checked on every request: `Api-Key` (401 when wrong) and `X-Pinecone-Api-Version` (400 when missing).
 * Scores as Pinecone computes them: cosine similarity, dot product, or squared Euclidean distance (ascending).
 * Values are stored as float32, as Pinecone does. Limits enforced: 1000 vectors and 2 MB per upsert, topK <= 10000,
 * metadata values string | number | boolean | string[].
 *
 * Metadata filters are evaluated with the store's filter language (`parseFilter(...).matches`, src/store/filter.ts),
 * which is Pinecone's; a malformed filter answers 400 with the parser's message.
 *
 * Test hooks: every request is recorded (`requests`), failures can be injected (`failNext`), and any request to a
 * path this server does not know is answered 404 and recorded in `unexpected`.
 */

export type PineconeMetric = 'cosine' | 'dotproduct' | 'euclidean';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string[]>;
  headers: Record<string, string | string[] | undefined>;
  /** Raw body as received. */
  raw: string;
  /** Parsed JSON body (undefined for GET). */
  body: unknown;
  /** Status this server answered with. */
  status: number;
}

export interface InjectedFailure {
  status: number;
  /** Sent as the Retry-After header when given. */
  retryAfter?: string;
  /** JSON body; default a Pinecone-style `{code, message}`. */
  body?: unknown;
  /** Only requests to this path fail (others pass and do not consume the injection). */
  path?: string;
  /** Let this many matching requests through before failing. Default 0. */
  after?: number;
}

interface StoredVector {
  id: string;
  values: Float32Array;
  metadata?: Record<string, unknown>;
}

const MAX_UPSERT_VECTORS = 1000;
const MAX_REQUEST_BYTES = 2 * 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export class PineconeTestServer {
  readonly requests: RecordedRequest[] = [];
  readonly unexpected: RecordedRequest[] = [];
  /** namespace -> id -> vector */
  readonly namespaces = new Map<string, Map<string, StoredVector>>();
  url = '';
  private failures: (InjectedFailure & { remaining: number; skip: number })[] = [];
  private server: Server;

  private constructor(
    readonly dimension: number,
    readonly metric: PineconeMetric,
    readonly apiKey: string,
  ) {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
  }

  static async start(opts: { dimension: number; metric: PineconeMetric; apiKey?: string }): Promise<PineconeTestServer> {
    const s = new PineconeTestServer(opts.dimension, opts.metric, opts.apiKey ?? 'test-key');
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = s.server.address() as AddressInfo;
    s.url = `http://127.0.0.1:${port}`;
    return s;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next `n` requests (matching `failure.path`, after `failure.after` of them pass) answer `failure.status`. */
  failNext(n: number, failure: InjectedFailure): void {
    this.failures.push({ ...failure, remaining: n, skip: failure.after ?? 0 });
  }

  clearFailures(): void {
    this.failures = [];
  }

  /** Requests to one path (e.g. `/vectors/upsert`). */
  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  count(namespace: string): number {
    return this.namespaces.get(namespace)?.size ?? 0;
  }

  private ns(name: string): Map<string, StoredVector> {
    let m = this.namespaces.get(name);
    if (!m) this.namespaces.set(name, (m = new Map()));
    return m;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const query: Record<string, string[]> = {};
    for (const [k, v] of url.searchParams) (query[k] ??= []).push(v);
    const rec: RecordedRequest = { method: req.method ?? '', path: url.pathname, query, headers: req.headers, raw, body: undefined, status: 0 };
    this.requests.push(rec);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      rec.status = status;
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };

    const injected = this.failures.find((f) => f.remaining > 0 && (f.path === undefined || f.path === url.pathname));
    if (injected) {
      if (injected.skip > 0) injected.skip--;
      else {
        injected.remaining--;
        const headers: Record<string, string> = injected.retryAfter !== undefined ? { 'retry-after': injected.retryAfter } : {};
        const message = injected.status === 429 ? 'Request rate limit exceeded (injected)' : `Injected failure ${injected.status}`;
        send(injected.status, injected.body ?? { code: injected.status === 429 ? 8 : 14, message, details: [] }, headers);
        return;
      }
    }

    try {
      if (req.headers['api-key'] !== this.apiKey) throw new HttpError(401, 'Invalid API Key');
      if (!req.headers['x-pinecone-api-version']) throw new HttpError(400, 'Missing X-Pinecone-Api-Version header');
      let body: unknown;
      if (req.method === 'POST') {
        if (Buffer.byteLength(raw) > MAX_REQUEST_BYTES) {
          throw new HttpError(400, `Request size ${Buffer.byteLength(raw)} bytes exceeds the maximum supported size of ${MAX_REQUEST_BYTES} bytes`);
        }
        try {
          body = JSON.parse(raw);
        } catch {
          throw new HttpError(400, 'Request body is not valid JSON');
        }
        if (!isObject(body)) throw new HttpError(400, 'Request body must be a JSON object');
        rec.body = body;
      }
      const route = `${req.method} ${url.pathname}`;
      switch (route) {
        case 'POST /vectors/upsert':
          return send(200, this.upsert(body as Record<string, unknown>));
        case 'POST /query':
          return send(200, this.query(body as Record<string, unknown>));
        case 'GET /vectors/fetch':
          return send(200, this.fetch(query));
        case 'POST /vectors/delete':
          return send(200, this.delete(body as Record<string, unknown>));
        case 'POST /vectors/update':
          return send(200, this.update(body as Record<string, unknown>));
        case 'POST /describe_index_stats':
          return send(200, this.describeStats(body as Record<string, unknown>));
        default:
          this.unexpected.push(rec);
          throw new HttpError(404, `Not found: ${route}`);
      }
    } catch (err) {
      if (err instanceof HttpError) send(err.status, { code: err.status === 400 ? 3 : err.status === 401 ? 16 : 5, message: err.message, details: [] });
      else send(500, { code: 13, message: `internal error: ${(err as Error).message}`, details: [] });
    }
  }

  private namespaceOf(body: Record<string, unknown>): string {
    const ns = body.namespace ?? '';
    if (typeof ns !== 'string') throw new HttpError(400, 'namespace must be a string');
    return ns;
  }

  private checkValues(values: unknown, what: string): Float32Array {
    if (!Array.isArray(values) || !values.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new HttpError(400, `${what}: values must be an array of finite numbers`);
    }
    if (values.length !== this.dimension) {
      throw new HttpError(400, `Vector dimension ${values.length} does not match the dimension of the index ${this.dimension}`);
    }
    return Float32Array.from(values as number[]);
  }

  private checkMetadata(meta: unknown, id: string): Record<string, unknown> | undefined {
    if (meta === undefined) return undefined;
    if (!isObject(meta)) throw new HttpError(400, `Metadata for vector ${id} must be an object`);
    for (const [k, v] of Object.entries(meta)) {
      const ok =
        typeof v === 'string' ||
        typeof v === 'boolean' ||
        (typeof v === 'number' && Number.isFinite(v)) ||
        (Array.isArray(v) && v.every((x) => typeof x === 'string'));
      if (!ok) throw new HttpError(400, `Metadata value for field ${k} of vector ${id} has an unsupported type`);
    }
    return { ...meta };
  }

  private upsert(body: Record<string, unknown>): unknown {
    const ns = this.namespaceOf(body);
    const vectors = body.vectors;
    if (!Array.isArray(vectors) || vectors.length === 0) throw new HttpError(400, 'vectors must be a non-empty array');
    if (vectors.length > MAX_UPSERT_VECTORS) throw new HttpError(400, `Upsert of ${vectors.length} vectors exceeds the limit of ${MAX_UPSERT_VECTORS}`);
    const parsed = vectors.map((v: unknown) => {
      if (!isObject(v) || typeof v.id !== 'string' || v.id.length === 0 || v.id.length > 512) throw new HttpError(400, 'every vector needs a string id');
      return { id: v.id, values: this.checkValues(v.values, `vector ${v.id}`), metadata: this.checkMetadata(v.metadata, v.id) };
    });
    const store = this.ns(ns);
    for (const v of parsed) store.set(v.id, v);
    return { upsertedCount: parsed.length };
  }

  private matcher(filter: unknown): (v: StoredVector) => boolean {
    if (filter === undefined || filter === null) return () => true;
    let f;
    try {
      f = parseFilter(filter);
    } catch (err) {
      throw new HttpError(400, `Invalid filter: ${(err as Error).message}`);
    }
    return (v) => f.matches(v.metadata ?? {});
  }

  private score(a: Float32Array, b: Float32Array): number {
    let dot = 0;
    let na = 0;
    let nb = 0;
    let l2 = 0;
    for (let i = 0; i < a.length; i++) {
      dot += a[i] * b[i];
      na += a[i] * a[i];
      nb += b[i] * b[i];
      l2 += (a[i] - b[i]) ** 2;
    }
    if (this.metric === 'euclidean') return l2;
    if (this.metric === 'dotproduct') return dot;
    return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
  }

  private query(body: Record<string, unknown>): unknown {
    const ns = this.namespaceOf(body);
    const topK = body.topK;
    if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1 || topK > 10_000) throw new HttpError(400, 'topK must be an integer in [1, 10000]');
    let q: Float32Array;
    if (body.vector !== undefined) q = this.checkValues(body.vector, 'query vector');
    else if (typeof body.id === 'string') {
      const v = this.namespaces.get(ns)?.get(body.id);
      if (!v) return { matches: [], namespace: ns, usage: { readUnits: 1 } };
      q = v.values;
    } else throw new HttpError(400, 'query needs a vector or an id');
    const match = this.matcher(body.filter);
    const asc = this.metric === 'euclidean';
    const hits = [...(this.namespaces.get(ns)?.values() ?? [])]
      .filter(match)
      .map((v) => ({ v, score: this.score(q, v.values) }))
      .sort((x, y) => (asc ? x.score - y.score : y.score - x.score) || (x.v.id < y.v.id ? -1 : x.v.id > y.v.id ? 1 : 0))
      .slice(0, topK);
    return {
      matches: hits.map(({ v, score }) => ({
        id: v.id,
        score,
        values: body.includeValues === true ? [...v.values] : [],
        ...(body.includeMetadata === true && v.metadata ? { metadata: v.metadata } : {}),
      })),
      namespace: ns,
      usage: { readUnits: 1 },
    };
  }

  private fetch(query: Record<string, string[]>): unknown {
    const ns = query.namespace?.[0] ?? '';
    const ids = query.ids ?? [];
    if (ids.length === 0) throw new HttpError(400, 'ids is required');
    const store = this.namespaces.get(ns);
    const vectors: Record<string, unknown> = {};
    for (const id of ids) {
      const v = store?.get(id);
      if (v) vectors[id] = { id, values: [...v.values], ...(v.metadata ? { metadata: v.metadata } : {}) };
    }
    return { vectors, namespace: ns, usage: { readUnits: 1 } };
  }

  private delete(body: Record<string, unknown>): unknown {
    const ns = this.namespaceOf(body);
    const modes = [body.ids !== undefined, body.deleteAll === true, body.filter !== undefined].filter(Boolean).length;
    if (modes !== 1) throw new HttpError(400, 'exactly one of ids, deleteAll or filter is required');
    const store = this.namespaces.get(ns);
    if (body.deleteAll === true) {
      this.namespaces.delete(ns);
    } else if (body.ids !== undefined) {
      if (!Array.isArray(body.ids) || !body.ids.every((x) => typeof x === 'string')) throw new HttpError(400, 'ids must be an array of strings');
      if (body.ids.length > 1000) throw new HttpError(400, 'at most 1000 ids per delete');
      for (const id of body.ids as string[]) store?.delete(id);
    } else {
      const match = this.matcher(body.filter);
      for (const [id, v] of store ?? []) if (match(v)) store!.delete(id);
    }
    if (store && store.size === 0) this.namespaces.delete(ns);
    return {};
  }

  private update(body: Record<string, unknown>): unknown {
    const ns = this.namespaceOf(body);
    if (typeof body.id !== 'string') throw new HttpError(400, 'id is required');
    const v = this.namespaces.get(ns)?.get(body.id);
    if (!v) throw new HttpError(404, `Vector ${body.id} not found`);
    if (body.values !== undefined) v.values = this.checkValues(body.values, `vector ${body.id}`);
    if (body.setMetadata !== undefined) v.metadata = { ...v.metadata, ...this.checkMetadata(body.setMetadata, body.id) };
    return {};
  }

  private describeStats(body: Record<string, unknown>): unknown {
    const match = this.matcher(body.filter);
    const namespaces: Record<string, { vectorCount: number }> = {};
    let total = 0;
    for (const [ns, store] of this.namespaces) {
      let n = 0;
      for (const v of store.values()) if (match(v)) n++;
      if (n > 0) namespaces[ns] = { vectorCount: n };
      total += n;
    }
    return { namespaces, dimension: this.dimension, indexFullness: 0, totalVectorCount: total, metric: this.metric, vectorType: 'dense' };
  }
}
