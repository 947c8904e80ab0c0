import { AsyncLocalStorage } from 'node:async_hooks';
import { Pinecone, type Index, type PineconeRecord, type RecordMetadata } from '@pinecone-database/pinecone';
import { EngineError } from '../engine/errors.ts';
import type { Metric } from '../engine/types.ts';
import type { IndexOptions, IndexSearchOptions, IndexSearchResult, IndexStats, LabelSetLike, VectorIndex } from './types.ts';
import { checkBatch, checkDelete, checkLabel, checkOptions, checkSearch, MAX_LABEL } from './validate.ts';

/**
 * The Pinecone backend: the `VectorIndex` contract over one Pinecone index through the official SDK
 * (`@pinecone-database/pinecone`), one namespace per Trellis collection. See docs/pinecone.md.
 *
 * - Labels become Pinecone record ids (`String(label)`) and come back as labels; a copy of the label is kept in the
 *   reserved metadata field `trellis_label` so that an allow-set can be sent as a `$in` filter (Pinecone filters
 *   cannot address record ids). The field is stripped from metadata handed back.
 * - Metadata filters (the Pinecone filter language, which is Trellis's) go through unchanged: `metadataFilter`.
 * - Only data-plane calls are made, against `indexHost`; no control-plane call is ever needed, and a request to any
 *   other host is refused before it is sent.
 * - Upserts are batched (`batchSize` records, at most `maxRequestBytes` of JSON per request). Every request is retried
 *   on 429, 5xx and network errors with exponential backoff and jitter, honouring `Retry-After`, up to `maxAttempts`
 *   attempts; other 4xx answers fail at once with a `PineconeBackendError` carrying the status and Pinecone's message.
 * - Bad input (dimension, NaN/Infinity, labels, k) is refused locally, with the same `EngineError` codes as the
 *   local backends, before any request.
 */

/** Pinecone's name for each Trellis metric. */
export const PINECONE_METRIC: Readonly<Record<Metric, 'cosine' | 'dotproduct' | 'euclidean'>> = {
  cosine: 'cosine',
  ip: 'dotproduct',
  l2: 'euclidean',
};

/** Reserved metadata field holding the Trellis label (a number), used for allow-set filters. */
export const LABEL_FIELD = 'trellis_label';

/** Pinecone's limits: 1000 records and 2 MB per upsert request, 40 KB of metadata per record, topK <= 10000. */
export const PINECONE_MAX_BATCH = 1000;
export const PINECONE_MAX_REQUEST_BYTES = 2 * 1024 * 1024;
export const PINECONE_MAX_METADATA_BYTES = 40 * 1024;
export const PINECONE_MAX_TOP_K = 10_000;

export type PineconeMetadataValue = string | number | boolean | string[];
export type PineconeMetadata = Record<string, PineconeMetadataValue>;

export interface RetryInfo {
  /** What was being done: `upsert`, `query`, `fetch`, `delete`, `describeIndexStats`. */
  operation: string;
  /** The attempt that just failed (1-based). */
  attempt: number;
  /** HTTP status of the failed attempt, or undefined for a network error / timeout. */
  status?: number;
  /** How long the client now waits before the next attempt. */
  delayMs: number;
  /** Retry-After sent by the server, in ms, if any. */
  retryAfterMs?: number;
}

export interface PineconeConfig {
  /** Pinecone API key. Default: env `PINECONE_API_KEY`. */
  apiKey?: string;
  /**
   * The index's data-plane host, as shown in the console or by `describeIndex` (e.g.
   * `https://docs-abc1234.svc.aped-4627-b74a.pinecone.io`; `http://` is allowed for Pinecone Local / tests).
   * Default: env `PINECONE_INDEX_HOST`. Giving the host means the SDK never calls the control plane.
   */
  indexHost?: string;
  /** The namespace holding this collection (one per Trellis collection; `''` is Pinecone's default namespace). */
  namespace: string;
  /** Records per upsert request. Default 100, at most 1000. */
  batchSize?: number;
  /** Largest upsert request body in bytes. Default and maximum 2 MB. */
  maxRequestBytes?: number;
  /** Attempts per request, the first included (429, 5xx and network errors are retried). Default 5. */
  maxAttempts?: number;
  /** Backoff before retry n is baseDelayMs * 2^(n-1), jittered to [50 %, 100 %]. Default 250 ms. */
  baseDelayMs?: number;
  /** Cap on one backoff delay (and on an honoured Retry-After). Default 20 s. */
  maxDelayMs?: number;
  /** Timeout of one HTTP attempt. Default 30 s. */
  requestTimeoutMs?: number;
  /** Largest allow-set (`filter`) sent as a `$in` filter; a larger one is refused. Default 1000 (Pinecone takes up to 10000). */
  maxAllowSetIn?: number;
  /** Called before each retry (for logs and tests). */
  onRetry?: (info: RetryInfo) => void;
}

/** `createIndex('pinecone', opts)`: the shape of the collection plus where it lives. HNSW parameters are ignored. */
export interface PineconeIndexOptions extends IndexOptions, PineconeConfig {}

export interface PineconeSearchOptions extends IndexSearchOptions {
  /**
   * A Pinecone metadata filter, sent as the query's `filter` exactly as given (Trellis's filter language is
   * Pinecone's). May be combined with the allow-set `filter`: both are then ANDed.
   */
  metadataFilter?: Record<string, unknown>;
}

export interface PineconeQueryOptions extends PineconeSearchOptions {
  includeMetadata?: boolean;
  includeValues?: boolean;
}

export interface PineconeMatch {
  label: number;
  /** hnswlib convention, as in `search`: l2 = squared L2, ip = 1 - dot, cosine = 1 - cos. */
  distance: number;
  /** Pinecone's raw score. */
  score: number;
  metadata?: PineconeMetadata;
  vector?: Float32Array;
}

export interface PineconeFetched {
  vector: Float32Array;
  metadata: PineconeMetadata;
}

export interface PineconeIndexStats extends IndexStats {
  remote: { host: string; namespace: string; dimension?: number; totalRecordCount?: number; indexFullness?: number };
}

export type PineconeErrorCode =
  /** 429 / 5xx / network errors until `maxAttempts` ran out. */
  | 'RETRIES_EXHAUSTED'
  /** 401 / 403: the API key was refused. */
  | 'UNAUTHORIZED'
  /** Another 4xx: Pinecone refused the request (bad filter, bad metadata, ...). Not retried. */
  | 'REJECTED'
  /** The server answered something this client cannot use (e.g. a record id that is not a Trellis label). */
  | 'BAD_RESPONSE'
  /** Anything else the SDK threw. */
  | 'SDK_ERROR';

/** A remote failure. Input errors are `EngineError`s instead, thrown before any request. */
export class PineconeBackendError extends Error {
  constructor(
    readonly code: PineconeErrorCode,
    message: string,
    readonly operation: string,
    readonly status?: number,
    readonly attempts = 0,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PineconeBackendError';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP: retries, Retry-After, timeouts, and an egress guard, in the fetch the SDK is given.

interface CallContext {
  operation: string;
  attempts: number;
  status?: number;
  body?: string;
  networkError?: unknown;
}

const callContext = new AsyncLocalStorage<CallContext>();

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Retry-After: delta-seconds or an HTTP date. Returns ms, or undefined when absent or unparseable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

interface RetryPolicy {
  host: string;
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  requestTimeoutMs: number;
  onRetry?: (info: RetryInfo) => void;
}

/** Backoff before the retry after failed attempt `attempt` (1-based): base * 2^(attempt-1), jittered to [50 %, 100 %], capped. */
export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number, random = Math.random): number {
  const exp = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exp * (0.5 + 0.5 * random()));
}

function retryingFetch(policy: RetryPolicy): typeof fetch {
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(policy.host + '/')) {
      // The SDK only ever talks to the data plane at indexHost; anything else (a control-plane call) is a bug.
      throw new Error(`refusing a request to ${url}: the Pinecone backend only talks to ${policy.host}`);
    }
    const ctx = callContext.getStore();
    for (let attempt = 1; ; attempt++) {
      if (ctx) ctx.attempts = attempt;
      const timeout = AbortSignal.timeout(policy.requestTimeoutMs);
      const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
      let res: Response;
      try {
        res = await globalThis.fetch(input, { ...init, signal });
      } catch (err) {
        if (init?.signal?.aborted) throw err;
        if (ctx) {
          ctx.status = undefined;
          ctx.body = undefined;
          ctx.networkError = err;
        }
        if (attempt >= policy.maxAttempts) throw err;
        const delayMs = backoffDelay(attempt, policy.baseDelayMs, policy.maxDelayMs);
        policy.onRetry?.({ operation: ctx?.operation ?? 'request', attempt, delayMs });
        await sleep(delayMs);
        continue;
      }
      if (res.ok) {
        if (ctx) {
          ctx.status = undefined;
          ctx.body = undefined;
          ctx.networkError = undefined;
        }
        return res;
      }
      const text = await res.text();
      if (ctx) {
        ctx.status = res.status;
        ctx.body = text;
        ctx.networkError = undefined;
      }
      const retryable = res.status === 429 || res.status >= 500;
      if (!retryable || attempt >= policy.maxAttempts) {
        // Hand the answer back to the SDK intact (its middleware turns it into an error; we then explain it).
        return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers });
      }
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      const backoff = backoffDelay(attempt, policy.baseDelayMs, policy.maxDelayMs);
      const delayMs = retryAfterMs === undefined ? backoff : Math.min(policy.maxDelayMs, Math.max(backoff, retryAfterMs));
      policy.onRetry?.({ operation: ctx?.operation ?? 'request', attempt, status: res.status, delayMs, retryAfterMs });
      await sleep(delayMs);
    }
  };
}

/** The message inside a Pinecone error body (`{"message": ...}` or `{"error": {"message": ...}}`), else the raw text. */
function serverMessage(body: string | undefined): string {
  if (!body) return '(empty body)';
  try {
    const j = JSON.parse(body) as { message?: unknown; error?: { message?: unknown } | string };
    if (typeof j.message === 'string') return j.message;
    if (typeof j.error === 'string') return j.error;
    if (j.error && typeof j.error.message === 'string') return j.error.message;
  } catch {
    // not JSON
  }
  return body.length > 500 ? `${body.slice(0, 500)}...` : body;
}

// ---------------------------------------------------------------------------------------------------------------
// Local checks

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/** Checks metadata as Pinecone would, before sending; drops null/undefined values. */
function checkMetadata(meta: unknown, where: string): PineconeMetadata {
  if (meta === undefined || meta === null) return {};
  if (!isPlainObject(meta)) throw new EngineError('INVALID_ARGUMENT', `${where}: metadata must be a plain object`);
  const out: PineconeMetadata = {};
  for (const [k, v] of Object.entries(meta)) {
    if (k.length === 0 || k.startsWith('$')) {
      throw new EngineError('INVALID_ARGUMENT', `${where}: metadata key ${JSON.stringify(k)} must be non-empty and not start with "$"`);
    }
    if (k === LABEL_FIELD) throw new EngineError('INVALID_ARGUMENT', `${where}: metadata key "${LABEL_FIELD}" is reserved by Trellis`);
    if (v === undefined || v === null) continue;
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) out[k] = v;
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[k] = [...(v as string[])];
    else {
      throw new EngineError(
        'INVALID_ARGUMENT',
        `${where}: metadata ${JSON.stringify(k)} must be a string, finite number, boolean or list of strings`,
      );
    }
  }
  const bytes = Buffer.byteLength(JSON.stringify(out));
  if (bytes > PINECONE_MAX_METADATA_BYTES) {
    throw new EngineError('INVALID_ARGUMENT', `${where}: metadata is ${bytes} bytes, Pinecone allows ${PINECONE_MAX_METADATA_BYTES}`);
  }
  return out;
}

function positiveInt(name: string, v: number | undefined, def: number, max = Infinity): number {
  if (v === undefined) return def;
  if (!Number.isInteger(v) || v <= 0 || v > max) {
    throw new EngineError('INVALID_ARGUMENT', `${name} must be a positive integer${max < Infinity ? ` <= ${max}` : ''} (got ${String(v)})`);
  }
  return v;
}

/** The labels of an allow-set: anything iterable (a `Set`) or with `forEach` (the engine's `LabelSet`). */
function allowSetLabels(filter: LabelSetLike): number[] | undefined {
  const out: number[] = [];
  const it = filter as Partial<Iterable<number>> & { forEach?: unknown };
  if (typeof it[Symbol.iterator] === 'function') {
    for (const l of it as Iterable<number>) out.push(l);
    return out;
  }
  if (typeof it.forEach === 'function') {
    (it.forEach as (fn: (l: number) => void) => void).call(filter, (l: number) => out.push(l));
    return out;
  }
  return undefined;
}

function labelOfId(id: string, operation: string): number {
  const label = /^\d{1,10}$/.test(id) ? Number(id) : NaN;
  if (!(label <= MAX_LABEL)) {
    throw new PineconeBackendError(
      'BAD_RESPONSE',
      `pinecone ${operation}: record id ${JSON.stringify(id)} is not a Trellis label; is another writer using this namespace?`,
      operation,
    );
  }
  return label;
}

function stripLabel(meta: RecordMetadata | undefined): PineconeMetadata {
  const out: PineconeMetadata = {};
  if (meta) for (const [k, v] of Object.entries(meta)) if (k !== LABEL_FIELD) out[k] = v;
  return out;
}

const FETCH_CHUNK = 100; // ids per GET /vectors/fetch (they travel in the query string)
const DELETE_CHUNK = 1000; // ids per POST /vectors/delete

// ---------------------------------------------------------------------------------------------------------------

export class PineconeIndex implements VectorIndex {
  readonly backend = 'pinecone' as const;
  /** No local file: `save` is a no-op (the data is durable in Pinecone) and `loadIndex` refuses; reopen with `createIndex`. */
  readonly persistent = false;
  readonly dim: number;
  readonly metric: Metric;
  readonly namespace: string;
  readonly host: string;
  readonly batchSize: number;
  readonly maxRequestBytes: number;
  readonly maxAllowSetIn: number;
  private readonly index: Index;
  private count = 0;

  private constructor(opts: PineconeIndexOptions) {
    checkOptions(opts);
    this.dim = opts.dim;
    this.metric = opts.metric;
    const apiKey = opts.apiKey ?? process.env.PINECONE_API_KEY;
    if (typeof apiKey !== 'string' || apiKey === '') {
      throw new EngineError('INVALID_ARGUMENT', 'pinecone: no API key (set PINECONE_API_KEY or pass apiKey)');
    }
    const hostRaw = opts.indexHost ?? process.env.PINECONE_INDEX_HOST;
    if (typeof hostRaw !== 'string' || hostRaw.trim() === '') {
      throw new EngineError('INVALID_ARGUMENT', 'pinecone: no index host (set PINECONE_INDEX_HOST or pass indexHost, the data-plane host of the index)');
    }
    let host = hostRaw.trim();
    if (!/^https?:\/\//.test(host)) host = `https://${host}`;
    let parsed: URL;
    try {
      parsed = new URL(host);
    } catch {
      throw new EngineError('INVALID_ARGUMENT', `pinecone: indexHost ${JSON.stringify(hostRaw)} is not a URL`);
    }
    if (parsed.pathname !== '/' || parsed.search || parsed.hash) {
      throw new EngineError('INVALID_ARGUMENT', `pinecone: indexHost must be a bare host (got ${JSON.stringify(hostRaw)})`);
    }
    this.host = `${parsed.protocol}//${parsed.host}`;
    if (typeof opts.namespace !== 'string') {
      throw new EngineError('INVALID_ARGUMENT', 'pinecone: namespace must be a string (one namespace per collection)');
    }
    this.namespace = opts.namespace;
    this.batchSize = positiveInt('batchSize', opts.batchSize, 100, PINECONE_MAX_BATCH);
    this.maxRequestBytes = positiveInt('maxRequestBytes', opts.maxRequestBytes, PINECONE_MAX_REQUEST_BYTES, PINECONE_MAX_REQUEST_BYTES);
    this.maxAllowSetIn = positiveInt('maxAllowSetIn', opts.maxAllowSetIn, 1000, 10_000);
    const policy: RetryPolicy = {
      host: this.host,
      maxAttempts: positiveInt('maxAttempts', opts.maxAttempts, 5, 20),
      baseDelayMs: positiveInt('baseDelayMs', opts.baseDelayMs, 250),
      maxDelayMs: positiveInt('maxDelayMs', opts.maxDelayMs, 20_000),
      requestTimeoutMs: positiveInt('requestTimeoutMs', opts.requestTimeoutMs, 30_000),
      onRetry: opts.onRetry,
    };
    // maxRetries: 0 turns off the SDK's own 5xx retry, so retries happen once, here, with Retry-After and 429 handled.
    const client = new Pinecone({ apiKey, maxRetries: 0, fetchApi: retryingFetch(policy), sourceTag: 'trellis' });
    this.index = client.index({ host: this.host, namespace: this.namespace });
  }

  /** Validates the options locally, then reads the index's stats once: checks the dimension and counts the namespace. */
  static async open(opts: PineconeIndexOptions): Promise<PineconeIndex> {
    if (opts === null || typeof opts !== 'object') throw new EngineError('INVALID_ARGUMENT', 'index options must be an object');
    const idx = new PineconeIndex(opts);
    const s = await idx.call('describeIndexStats', () => idx.index.describeIndexStats());
    if (s.dimension !== undefined && s.dimension !== 0 && s.dimension !== idx.dim) {
      throw new EngineError('DIMENSION_MISMATCH', `pinecone index at ${idx.host} has dimension ${s.dimension}, the collection has dim ${idx.dim}`);
    }
    idx.count = s.namespaces?.[idx.namespace]?.recordCount ?? 0;
    return idx;
  }

  /** Live vectors in the namespace as this client knows them (read at open, kept up to date by its own writes; `stats()` asks the server). */
  get size(): number {
    return this.count;
  }

  /** Runs one SDK call with a context the fetch wrapper fills in, and turns failures into clear errors. */
  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const ctx: CallContext = { operation, attempts: 0 };
    try {
      return await callContext.run(ctx, fn);
    } catch (err) {
      if (err instanceof EngineError || err instanceof PineconeBackendError) throw err;
      throw this.explain(ctx, err);
    }
  }

  private explain(ctx: CallContext, err: unknown): PineconeBackendError {
    const where = `pinecone ${ctx.operation} (namespace ${JSON.stringify(this.namespace)} at ${this.host})`;
    const opts = { cause: err };
    const { status, attempts } = ctx;
    if (status !== undefined) {
      const msg = serverMessage(ctx.body);
      if (status === 429 || status >= 500) {
        return new PineconeBackendError(
          'RETRIES_EXHAUSTED',
          `${where}: gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}; the last answer was HTTP ${status}: ${msg}`,
          ctx.operation,
          status,
          attempts,
          opts,
        );
      }
      if (status === 401 || status === 403) {
        return new PineconeBackendError('UNAUTHORIZED', `${where}: HTTP ${status}, the API key was refused: ${msg}`, ctx.operation, status, attempts, opts);
      }
      return new PineconeBackendError(
        'REJECTED',
        `${where}: HTTP ${status}: ${msg} (client errors are not retried)`,
        ctx.operation,
        status,
        attempts,
        opts,
      );
    }
    if (ctx.networkError !== undefined) {
      const cause = ctx.networkError as { message?: string; cause?: { message?: string } };
      const detail = cause.cause?.message ?? cause.message ?? String(ctx.networkError);
      return new PineconeBackendError(
        'RETRIES_EXHAUSTED',
        `${where}: gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}; the last one failed without an answer: ${detail}`,
        ctx.operation,
        undefined,
        attempts,
        { cause: ctx.networkError },
      );
    }
    const m = err instanceof Error ? err.message : String(err);
    return new PineconeBackendError('SDK_ERROR', `${where}: ${m}`, ctx.operation, undefined, attempts, opts);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Reads

  /** Fetches records by label: vectors (float32, exactly as written) and metadata (without the reserved label field). */
  async fetch(labels: ArrayLike<number>): Promise<Map<number, PineconeFetched>> {
    for (let i = 0; i < labels.length; i++) checkLabel(labels[i]);
    const raw = await this.fetchRaw(Array.from(labels, String));
    const out = new Map<number, PineconeFetched>();
    for (const rec of raw.values()) {
      out.set(labelOfId(rec.id, 'fetch'), { vector: Float32Array.from(rec.values ?? []), metadata: stripLabel(rec.metadata) });
    }
    return out;
  }

  private async fetchRaw(ids: string[]): Promise<Map<string, PineconeRecord>> {
    const out = new Map<string, PineconeRecord>();
    for (let i = 0; i < ids.length; i += FETCH_CHUNK) {
      const chunk = ids.slice(i, i + FETCH_CHUNK);
      const res = await this.call('fetch', () => this.index.fetch({ ids: chunk, namespace: this.namespace }));
      for (const [id, rec] of Object.entries(res.records ?? {})) out.set(id, { ...rec, id: rec.id ?? id });
    }
    return out;
  }

  async has(label: number): Promise<boolean> {
    checkLabel(label);
    return (await this.fetchRaw([String(label)])).has(String(label));
  }

  /**
   * Nearest first, with hnswlib-convention distances. `filter` (an allow-set) becomes
   * `{"trellis_label": {"$in": [...]}}` when it has at most `maxAllowSetIn` labels and is refused when larger;
   * `metadataFilter` is sent as is (ANDed with the allow-set when both are given). `efSearch` is checked and ignored.
   */
  async search(query: ArrayLike<number>, k: number, opts: PineconeSearchOptions = {}): Promise<IndexSearchResult> {
    const matches = await this.query(query, k, { ...opts, includeMetadata: false, includeValues: false });
    return {
      labels: Uint32Array.from(matches, (m) => m.label),
      distances: Float32Array.from(matches, (m) => m.distance),
    };
  }

  /** `search` with Pinecone's scores and, on request, metadata and vectors. */
  async query(query: ArrayLike<number>, k: number, opts: PineconeQueryOptions = {}): Promise<PineconeMatch[]> {
    checkSearch(query, k, this.dim, this.metric, opts.efSearch);
    const filter = this.buildFilter(opts);
    if (filter === null) return [];
    const vector = Array.from(query, Number);
    const topK = Math.min(k, PINECONE_MAX_TOP_K);
    const includeMetadata = opts.includeMetadata ?? false;
    const includeValues = opts.includeValues ?? false;
    const res = await this.call('query', () =>
      this.index.query({ vector, topK, namespace: this.namespace, includeMetadata, includeValues, ...(filter ? { filter } : {}) }),
    );
    return (res.matches ?? []).map((m) => {
      const score = m.score ?? NaN;
      const match: PineconeMatch = { label: labelOfId(m.id, 'query'), distance: this.distanceOf(score), score };
      if (includeMetadata) match.metadata = stripLabel(m.metadata);
      if (includeValues) match.vector = Float32Array.from(m.values ?? []);
      return match;
    });
  }

  /** Pinecone score -> hnswlib-convention distance: euclidean scores are already squared L2; the others are similarities. */
  private distanceOf(score: number): number {
    return this.metric === 'l2' ? score : 1 - score;
  }

  /** The filter to send: undefined for none, null when nothing can match (an empty allow-set). */
  private buildFilter(opts: PineconeSearchOptions): Record<string, unknown> | undefined | null {
    const meta = opts.metadataFilter;
    if (meta !== undefined && !isPlainObject(meta)) {
      throw new EngineError('INVALID_ARGUMENT', 'metadataFilter must be a plain object in the Pinecone filter language');
    }
    const hasMeta = meta !== undefined && Object.keys(meta).length > 0;
    if (opts.filter === undefined) return hasMeta ? meta : undefined;
    const allow = opts.filter;
    if (allow === null || typeof allow !== 'object' || typeof allow.has !== 'function' || typeof allow.size !== 'number') {
      throw new EngineError('INVALID_ARGUMENT', 'filter must be an allow-set with has(label) and size');
    }
    if (allow.size === 0) return null;
    if (allow.size > this.maxAllowSetIn) {
      throw new EngineError(
        'INVALID_ARGUMENT',
        `pinecone: an allow-set of ${allow.size} labels is more than maxAllowSetIn (${this.maxAllowSetIn}) can send as a $in filter; ` +
          'pass the condition that selected them as metadataFilter instead',
      );
    }
    const labels = allowSetLabels(allow);
    if (labels === undefined) {
      throw new EngineError('INVALID_ARGUMENT', 'pinecone: the allow-set cannot be enumerated (give a Set or a LabelSet), or pass a metadataFilter');
    }
    labels.forEach(checkLabel);
    labels.sort((a, b) => a - b);
    const byLabel = { [LABEL_FIELD]: { $in: labels } };
    return hasMeta ? { $and: [meta, byLabel] } : byLabel;
  }

  async stats(): Promise<PineconeIndexStats> {
    const s = await this.call('describeIndexStats', () => this.index.describeIndexStats());
    const count = s.namespaces?.[this.namespace]?.recordCount ?? 0;
    return {
      backend: 'pinecone',
      dim: this.dim,
      metric: this.metric,
      count,
      // What the vectors take as float32 (Pinecone does not report storage per namespace).
      bytes: count * this.dim * 4,
      bytesMethod: 'array-sizes',
      remote: {
        host: this.host,
        namespace: this.namespace,
        dimension: s.dimension,
        totalRecordCount: s.totalRecordCount,
        indexFullness: s.indexFullness,
      },
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Writes

  /**
   * Adds vectors under new labels, with optional metadata per row. Input is checked locally first (dimension,
   * finite values, labels); then one fetch per 100 labels checks none exists (`DUPLICATE_LABEL`); then batched
   * upserts. If a batch fails for good, the batches already written are deleted again (best effort) before the
   * error is thrown.
   */
  async add(labels: ArrayLike<number>, vectors: ArrayLike<number>, opts: { metadata?: ArrayLike<unknown> } = {}): Promise<void> {
    const records = this.buildRecords(labels, vectors, opts.metadata);
    if (records.length === 0) return;
    const existing = await this.fetchRaw(records.map((r) => r.id));
    if (existing.size > 0) {
      const first = records.find((r) => existing.has(r.id))!;
      throw new EngineError('DUPLICATE_LABEL', `label ${first.id} is already in the index (namespace ${JSON.stringify(this.namespace)})`);
    }
    await this.writeBatches(records, true);
    this.count += records.length;
  }

  /** Inserts or overwrites (vector and metadata) without the duplicate check's refusal; `size` counts only new labels. */
  async upsert(labels: ArrayLike<number>, vectors: ArrayLike<number>, opts: { metadata?: ArrayLike<unknown> } = {}): Promise<void> {
    const records = this.buildRecords(labels, vectors, opts.metadata);
    if (records.length === 0) return;
    const existing = await this.fetchRaw(records.map((r) => r.id));
    await this.writeBatches(records, false);
    this.count += records.length - existing.size;
  }

  private buildRecords(labels: ArrayLike<number>, vectors: ArrayLike<number>, metadata?: ArrayLike<unknown>): PineconeRecord[] {
    checkBatch(labels, vectors, this.dim, this.metric, () => false);
    const n = labels.length;
    if (metadata !== undefined && (metadata === null || typeof metadata !== 'object' || metadata.length !== n)) {
      throw new EngineError('INVALID_ARGUMENT', `metadata must be an array with one entry per label (${n})`);
    }
    const records: PineconeRecord[] = [];
    for (let i = 0; i < n; i++) {
      const label = labels[i];
      const values = new Array<number>(this.dim);
      for (let j = 0; j < this.dim; j++) values[j] = Math.fround(vectors[i * this.dim + j]);
      const meta = checkMetadata(metadata?.[i], `metadata for label ${label}`);
      records.push({ id: String(label), values, metadata: { ...meta, [LABEL_FIELD]: label } });
    }
    return records;
  }

  /** Splits records into requests of at most `batchSize` records and `maxRequestBytes` bytes of JSON. */
  batches(records: PineconeRecord[]): PineconeRecord[][] {
    const envelope = 64 + Buffer.byteLength(JSON.stringify(this.namespace));
    const out: PineconeRecord[][] = [];
    let cur: PineconeRecord[] = [];
    let bytes = envelope;
    for (const r of records) {
      const size = Buffer.byteLength(JSON.stringify(r)) + 1;
      if (envelope + size > this.maxRequestBytes) {
        throw new EngineError('INVALID_ARGUMENT', `record ${r.id} alone is ${size} bytes, over the ${this.maxRequestBytes}-byte request limit`);
      }
      if (cur.length > 0 && (cur.length >= this.batchSize || bytes + size > this.maxRequestBytes)) {
        out.push(cur);
        cur = [];
        bytes = envelope;
      }
      cur.push(r);
      bytes += size;
    }
    if (cur.length > 0) out.push(cur);
    return out;
  }

  private async writeBatches(records: PineconeRecord[], rollback: boolean): Promise<void> {
    const batches = this.batches(records);
    const written: string[] = [];
    for (const batch of batches) {
      try {
        await this.call('upsert', () => this.index.upsert({ records: batch, namespace: this.namespace }));
      } catch (err) {
        if (!rollback || written.length === 0 || !(err instanceof PineconeBackendError)) throw err;
        let undone = true;
        try {
          await this.deleteIds(written);
        } catch {
          undone = false;
        }
        err.message += undone
          ? ` (the ${written.length} records written by earlier batches of this add were deleted again)`
          : ` (${written.length} records written by earlier batches of this add could not be deleted again: ${written.slice(0, 5).join(', ')}${written.length > 5 ? ', ...' : ''})`;
        throw err;
      }
      for (const r of batch) written.push(r.id);
    }
  }

  private async deleteIds(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
      const chunk = ids.slice(i, i + DELETE_CHUNK);
      await this.call('delete', () => this.index.deleteMany({ ids: chunk, namespace: this.namespace }));
    }
  }

  /** Deletes labels; unknown labels are refused (`UNKNOWN_LABEL`) before anything is deleted. */
  async delete(labels: ArrayLike<number>): Promise<void> {
    checkDelete(labels, () => true);
    const ids = Array.from(labels, String);
    if (ids.length === 0) return;
    const existing = await this.fetchRaw(ids);
    const missing = ids.find((id) => !existing.has(id));
    if (missing !== undefined) throw new EngineError('UNKNOWN_LABEL', `label ${missing} is not in the index (namespace ${JSON.stringify(this.namespace)})`);
    await this.deleteIds(ids);
    this.count -= ids.length;
  }

  /** Deletes every record the metadata filter matches (sent unchanged), then re-reads the namespace count. */
  async deleteByMetadata(metadataFilter: Record<string, unknown>): Promise<void> {
    if (!isPlainObject(metadataFilter) || Object.keys(metadataFilter).length === 0) {
      throw new EngineError('INVALID_ARGUMENT', 'deleteByMetadata needs a non-empty filter object (use clear() to delete everything)');
    }
    await this.call('delete', () => this.index.deleteMany({ filter: metadataFilter, namespace: this.namespace }));
    this.count = (await this.stats()).count;
  }

  /** Deletes the whole namespace's records. */
  async clear(): Promise<void> {
    await this.call('delete', () => this.index.deleteAll({ namespace: this.namespace }));
    this.count = 0;
  }

  /** A no-op: every write is durable in Pinecone once acknowledged, and there is no local file. */
  async save(_path: string): Promise<void> {}
}
