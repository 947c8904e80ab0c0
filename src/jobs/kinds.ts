import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { DEFAULT_CHUNKING, validateChunking } from '../../indexer/chunker.ts';
import { ingest, type IngestSummary } from '../../indexer/ingest.ts';
import type { MetadataValue } from '../../indexer/loaders/index.ts';
import type { Trellis } from '../context.ts';
import { normalizeMetadata } from '../store/index.ts';
import type { JobQueue } from './queue.ts';
import { JobError } from './types.ts';

/** Params of an `ingest` job (paths are resolved against the submitting process's working directory). */
export interface IngestJobParams {
  collection: string;
  paths: string[];
  chunkSize?: number;
  chunkOverlap?: number;
  metadata?: Record<string, MetadataValue>;
  prune?: boolean;
  /** json/jsonl/csv loader options, as `trellis ingest` takes them. */
  textField?: string;
  metadataFields?: string[];
  idField?: string;
  /** Files in flight. Default 4. */
  concurrency?: number;
}

export interface ReindexJobParams {
  collection: string;
}

export interface ReindexJobResult {
  collection: string;
  documents: number;
  chunks: number;
  vectors: number;
  indexed: number;
  seconds: number;
}

const INGEST_KEYS = new Set(['collection', 'paths', 'chunkSize', 'chunkOverlap', 'metadata', 'prune', 'textField', 'metadataFields', 'idField', 'concurrency']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function requireObject(params: unknown, allowed: Set<string>): Record<string, unknown> {
  if (!isObject(params)) throw new JobError('INVALID_PARAMS', 'params must be a JSON object', 'params');
  for (const k of Object.keys(params)) if (!allowed.has(k)) throw new JobError('INVALID_PARAMS', `unknown parameter "${k}" (allowed: ${[...allowed].join(', ')})`, `params.${k}`);
  return params;
}

function requireCollection(t: Trellis, v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new JobError('INVALID_PARAMS', 'collection must be a non-empty string', 'params.collection');
  if (!t.store.getCollection(v)) throw new JobError('NOT_FOUND', `no collection named "${v}"`, 'params.collection');
  return v;
}

function optionalInt(p: Record<string, unknown>, key: string, min: number): number | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new JobError('INVALID_PARAMS', `${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`, `params.${key}`);
  return v;
}

function optionalString(p: Record<string, unknown>, key: string): string | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new JobError('INVALID_PARAMS', `${key} must be a non-empty string`, `params.${key}`);
  return v;
}

/** Checks and normalises `ingest` params (paths made absolute and required to exist). */
export function validateIngestParams(params: unknown, t: Trellis): IngestJobParams {
  const p = requireObject(params, INGEST_KEYS);
  const collection = requireCollection(t, p.collection);
  if (!Array.isArray(p.paths) || p.paths.length === 0) throw new JobError('INVALID_PARAMS', 'paths must be a non-empty array of file or folder paths', 'params.paths');
  const paths = p.paths.map((v, i) => {
    if (typeof v !== 'string' || v === '') throw new JobError('INVALID_PARAMS', `paths[${i}] must be a non-empty string`, `params.paths[${i}]`);
    const abs = isAbsolute(v) ? v : resolve(v);
    if (!existsSync(abs)) throw new JobError('INVALID_PARAMS', `path ${abs} does not exist`, `params.paths[${i}]`);
    return abs;
  });
  const out: IngestJobParams = { collection, paths };
  const chunkSize = optionalInt(p, 'chunkSize', 8);
  const chunkOverlap = optionalInt(p, 'chunkOverlap', 0);
  if (chunkSize !== undefined || chunkOverlap !== undefined) {
    try {
      validateChunking({ chunkSize: chunkSize ?? DEFAULT_CHUNKING.chunkSize, chunkOverlap: chunkOverlap ?? Math.min(DEFAULT_CHUNKING.chunkOverlap, (chunkSize ?? DEFAULT_CHUNKING.chunkSize) - 1) });
    } catch (err) {
      throw new JobError('INVALID_PARAMS', (err as Error).message, chunkOverlap !== undefined ? 'params.chunkOverlap' : 'params.chunkSize');
    }
    if (chunkSize !== undefined) out.chunkSize = chunkSize;
    if (chunkOverlap !== undefined) out.chunkOverlap = chunkOverlap;
  }
  if (p.metadata !== undefined) {
    try {
      out.metadata = normalizeMetadata(p.metadata, 'metadata') as Record<string, MetadataValue>;
    } catch (err) {
      throw new JobError('INVALID_PARAMS', (err as Error).message, 'params.metadata');
    }
  }
  if (p.prune !== undefined) {
    if (typeof p.prune !== 'boolean') throw new JobError('INVALID_PARAMS', 'prune must be a boolean', 'params.prune');
    out.prune = p.prune;
  }
  const textField = optionalString(p, 'textField');
  const idField = optionalString(p, 'idField');
  if (textField) out.textField = textField;
  if (idField) out.idField = idField;
  if (p.metadataFields !== undefined) {
    if (!Array.isArray(p.metadataFields) || !p.metadataFields.every((f) => typeof f === 'string' && f !== '')) {
      throw new JobError('INVALID_PARAMS', 'metadataFields must be an array of field names', 'params.metadataFields');
    }
    out.metadataFields = p.metadataFields as string[];
  }
  const concurrency = optionalInt(p, 'concurrency', 1);
  if (concurrency !== undefined) out.concurrency = concurrency;
  return out;
}

export function validateReindexParams(params: unknown, t: Trellis): ReindexJobParams {
  const p = requireObject(params, new Set(['collection']));
  return { collection: requireCollection(t, p.collection) };
}

/**
 * Registers the built-in kinds:
 * - `ingest` (resumable): indexer/ingest.ts with the job's signal and progress (files done / files); result: the
 *   IngestSummary. A rerun after a restart skips the documents already stored.
 * - `reindex` (resumable: a rebuild is idempotent): rebuilds the collection's index from the store; result: counts.
 */
export function registerBuiltinJobs(queue: JobQueue): JobQueue {
  queue.register<IngestJobParams>(
    'ingest',
    async ({ params, signal, progress, t }): Promise<IngestSummary> => {
      const chunking =
        params.chunkSize !== undefined || params.chunkOverlap !== undefined
          ? { chunkSize: params.chunkSize ?? DEFAULT_CHUNKING.chunkSize, chunkOverlap: params.chunkOverlap ?? Math.min(DEFAULT_CHUNKING.chunkOverlap, (params.chunkSize ?? DEFAULT_CHUNKING.chunkSize) - 1) }
          : undefined;
      return ingest(t, {
        collection: params.collection,
        paths: params.paths,
        chunking,
        metadata: params.metadata,
        prune: params.prune,
        loader: { textField: params.textField, metadataFields: params.metadataFields, idField: params.idField },
        concurrency: params.concurrency,
        signal,
        onProgress: (p) => progress(p.filesDone, p.filesTotal, `${p.chunks} chunks`),
      });
    },
    { resumable: true, validate: validateIngestParams, description: 'ingest files or folders into a collection (resumable)' },
  );
  queue.register<ReindexJobParams>(
    'reindex',
    async ({ params, signal, progress, t }): Promise<ReindexJobResult> => {
      const started = performance.now();
      signal.throwIfAborted();
      progress(0, 1, 'rebuilding');
      await t.indexes.rebuild(params.collection, 'reindex job');
      const stats = await t.indexes.stats(params.collection);
      progress(1, 1, `${stats.indexed} vectors indexed`);
      return { collection: params.collection, ...stats, seconds: (performance.now() - started) / 1000 };
    },
    { resumable: true, validate: validateReindexParams, description: "rebuild a collection's index from the store" },
  );
  return queue;
}
