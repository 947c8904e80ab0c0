import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import type { Trellis } from '../src/context.ts';
import type { EmbeddingModel } from '../src/embed/index.ts';
import { StoreError, type ChunkInput, type Collection } from '../src/store/index.ts';
import { chunkText, DEFAULT_CHUNKING, validateChunking, type ChunkOptions } from './chunker.ts';
import { fileType, loadFile, type LoadedDocument, type LoaderOptions, type MetadataValue } from './loaders/index.ts';

export interface IngestOptions {
  collection: string;
  paths: string[];
  chunking?: ChunkOptions;
  /** Added to every document's metadata (`--metadata k=v`). */
  metadata?: Record<string, MetadataValue>;
  loader?: LoaderOptions;
  /** Delete documents whose source file, under one of `paths`, no longer exists. */
  prune?: boolean;
  /** Files processed at once, so the embedding batcher can fill batches across files. Default 4. */
  concurrency?: number;
  /** Save index files every this many files (a killed run then has less to catch up). Default 200. */
  flushEvery?: number;
  onProgress?: (p: IngestProgress) => void;
  signal?: AbortSignal;
}

export interface IngestProgress {
  filesDone: number;
  filesTotal: number;
  chunks: number;
  current?: string;
}

export interface IngestSummary {
  runId: number;
  collection: string;
  /** Files found under the given paths (supported types only). */
  files: number;
  /** Documents written (new or changed). */
  documents: number;
  chunks: number;
  /** Unchanged documents (same source and content hash as stored). */
  skipped: number;
  /** Documents whose content is identical to another stored document's, not stored twice. */
  duplicates: number;
  failed: { path: string; reason: string }[];
  /** Files of a type this collection does not take (e.g. images into a text collection). */
  ignored: number;
  /** Documents removed: those of deleted files (`--prune`) and records gone from a changed json/jsonl/csv file. */
  pruned: number;
  /** Earlier runs that were killed before they finished (this run picked up where they stopped). */
  resumedFrom: number[];
  seconds: number;
  embedSeconds: number;
  chunksPerSecond: number;
}

/**
 * The ingest pipeline: walk -> hash -> (skip unchanged) -> load -> chunk -> embed -> store + index.
 *
 * Resumable by construction: each document is written in one transaction with its content hash, and a
 * document whose source and hash are already stored is skipped. A run killed at any point (even kill -9)
 * leaves only whole documents behind; rerunning it skips what was done, redoes the rest, and the index
 * manager catches the index up with the store when it opens. Document ids derive from the source path,
 * so a rerun replaces rather than duplicates.
 */
export async function ingest(t: Trellis, opts: IngestOptions): Promise<IngestSummary> {
  const started = performance.now();
  const collection = t.store.requireCollection(opts.collection);
  const chunking = validateChunking(opts.chunking ?? DEFAULT_CHUNKING);
  const roots = opts.paths.map((p) => resolve(p));
  for (const r of roots) if (!existsSync(r)) throw new StoreError('NOT_FOUND', `path ${r} does not exist`);
  const { files, ignored } = collectFiles(roots, collection.kind);

  const interrupted = t.store.listIngestRuns(collection.name, { status: 'running' });
  for (const r of interrupted) t.store.finishIngestRun(r.id, 'interrupted');
  const run = t.store.startIngestRun(collection.name, { paths: roots, chunking, metadata: opts.metadata ?? {}, prune: !!opts.prune });
  t.store.addIngestFiles(run.id, files.map((path) => ({ path })));

  const model = await t.modelFor(collection);
  if (collection.kind === 'image' && model.manifest.kind !== 'clip') {
    throw new StoreError('INVALID_ARGUMENT', `collection "${collection.name}" holds images but its model ${collection.model} is a text model`);
  }
  const summary: IngestSummary = {
    runId: run.id,
    collection: collection.name,
    files: files.length,
    documents: 0,
    chunks: 0,
    skipped: 0,
    duplicates: 0,
    failed: [],
    ignored,
    pruned: 0,
    resumedFrom: interrupted.map((r) => r.id),
    seconds: 0,
    embedSeconds: 0,
    chunksPerSecond: 0,
  };
  const ctx: FileContext = { t, collection, model, chunking, opts, summary, runId: run.id, inFlight: new Map() };
  let done = 0;
  let sinceFlush = 0;
  const flushEvery = opts.flushEvery ?? 200;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      if (opts.signal?.aborted) return;
      const path = files[next++];
      try {
        await ingestFile(ctx, path);
      } catch (err) {
        if (opts.signal?.aborted) return;
        const reason = (err as Error).message;
        summary.failed.push({ path, reason });
        t.store.setIngestFileState(run.id, path, 'failed', { error: reason });
      }
      done++;
      opts.onProgress?.({ filesDone: done, filesTotal: files.length, chunks: summary.chunks, current: path });
      if (++sinceFlush >= flushEvery) {
        sinceFlush = 0;
        await t.indexes.save(collection.name);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));
    if (opts.prune && !opts.signal?.aborted) summary.pruned += await prune(t, collection, roots);
    await t.indexes.save(collection.name);
  } catch (err) {
    t.store.finishIngestRun(run.id, 'failed', counters(summary));
    throw err;
  }
  summary.seconds = (performance.now() - started) / 1000;
  summary.chunksPerSecond = summary.seconds > 0 ? summary.chunks / summary.seconds : 0;
  t.store.finishIngestRun(run.id, opts.signal?.aborted ? 'cancelled' : 'done', counters(summary));
  return summary;
}

interface FileContext {
  t: Trellis;
  collection: Collection;
  model: EmbeddingModel;
  chunking: ChunkOptions;
  opts: IngestOptions;
  summary: IngestSummary;
  runId: number;
  /** Content hashes being written right now (dedupe across files in flight). */
  inFlight: Map<string, Promise<void>>;
  records?: { id: string; source: string }[];
}

async function ingestFile(ctx: FileContext, path: string): Promise<void> {
  const { t, collection, summary } = ctx;
  const bytes = await readFile(path);
  const fileHash = sha256(bytes);
  const type = fileType(path)!.type;
  const single = type !== 'json' && type !== 'jsonl' && type !== 'csv';
  // Fast path for the common case (one document per file, unchanged): no parsing, no embedding.
  if (single && t.store.findDocument(collection.name, path, fileHash)) {
    summary.skipped++;
    t.store.setIngestFileState(ctx.runId, path, 'skipped', { contentHash: fileHash, documentId: path });
    return;
  }
  const mtime = (await stat(path)).mtimeMs;
  const docs = await loadFile(path, bytes, ctx.opts.loader);
  let chunks = 0;
  for (const doc of docs) {
    const source = single ? path : `${path}#${doc.key}`;
    const hash = single ? fileHash : sha256(Buffer.from(JSON.stringify([doc.sections, doc.metadata])));
    if (!single && t.store.findDocument(collection.name, source, hash)) {
      summary.skipped++;
      continue;
    }
    // With several files in flight, two copies can both pass the store check before either is written: wait for a
    // copy of this content that is being written, then look again (no await between the look and the claim).
    for (let w = ctx.inFlight.get(hash); w; w = ctx.inFlight.get(hash)) await w;
    const twin = t.store.findDocumentsByHash(collection.name, hash).find((d) => d.source !== source);
    if (twin) {
      summary.duplicates++;
      // A changed file whose new content is a copy of another file's: its old content must not stay searchable.
      const stale = t.store.findDocumentBySource(collection.name, source);
      if (stale) await t.indexes.deleteDocuments(collection.name, [stale.id]);
      continue;
    }
    const write = writeDocument(ctx, doc, source, hash, mtime, type);
    const settled = write.then(
      () => undefined,
      () => undefined,
    );
    ctx.inFlight.set(hash, settled);
    try {
      chunks += await write;
    } finally {
      if (ctx.inFlight.get(hash) === settled) ctx.inFlight.delete(hash);
    }
  }
  if (!single) {
    // Records that were in an earlier version of this file but are gone from it now.
    const keep = new Set(docs.map((d) => `${path}#${d.key}`));
    const stale = recordSources(ctx).filter((r) => r.source.startsWith(`${path}#`) && !keep.has(r.source));
    if (stale.length) summary.pruned += (await t.indexes.deleteDocuments(collection.name, stale.map((r) => r.id))).documents.length;
  }
  t.store.setIngestFileState(ctx.runId, path, 'done', { contentHash: fileHash, documentId: single ? path : undefined, chunks });
}

/** Sources of the records (json/jsonl/csv documents) stored when the run started, read once. */
function recordSources(ctx: FileContext): { id: string; source: string }[] {
  ctx.records ??= ctx.t.store.listSources(ctx.collection.name).filter((r) => r.source.includes('#'));
  return ctx.records;
}

async function writeDocument(ctx: FileContext, doc: LoadedDocument, source: string, hash: string, mtime: number, type: string): Promise<number> {
  const { t, collection, model, summary } = ctx;
  const metadata: Record<string, MetadataValue> = {
    ...doc.metadata,
    source,
    type,
    title: doc.title ?? basename(source),
    mtime: Math.round(mtime),
    ...(ctx.opts.metadata ?? {}),
  };
  let chunks: ChunkInput[];
  if (doc.kind === 'image') {
    if (collection.kind !== 'image') throw new StoreError('INVALID_ARGUMENT', `${source} is an image; collection "${collection.name}" holds text`);
    const r = await timedEmbed(summary, () => model.embedImages([doc.image!], { signal: ctx.opts.signal }));
    chunks = [{ text: String(metadata.title), source, vector: r.vectors }];
  } else {
    const count = tokenCounter(model);
    const pieces = doc.sections.flatMap((s) => chunkText(s.text, count, ctx.chunking).map((c) => ({ ...c, page: s.page })));
    // A document with no text (an empty file, a scanned PDF) is recorded with no chunks, so it is not retried.
    chunks = [];
    if (pieces.length > 0) {
      const r = await timedEmbed(summary, () => model.embedTexts(pieces.map((p) => p.text), { signal: ctx.opts.signal }));
      chunks = pieces.map((p, i) => ({
        text: p.text,
        source,
        start: p.start,
        end: p.end,
        page: p.page,
        vector: r.vectors.subarray(i * r.dimension, (i + 1) * r.dimension),
      }));
    }
  }
  await t.indexes.upsertDocument(collection.name, { id: source, source, contentHash: hash, mtime: Math.round(mtime), metadata, chunks });
  summary.documents++;
  summary.chunks += chunks.length;
  return chunks.length;
}

/**
 * Embedding wall time as the union of the intervals in which any embed call is in flight: with several
 * files in flight their calls overlap, and summing them would count the same seconds twice.
 */
const embedClocks = new WeakMap<IngestSummary, { inFlight: number; since: number }>();
async function timedEmbed<T>(summary: IngestSummary, fn: () => Promise<T>): Promise<T> {
  let clock = embedClocks.get(summary);
  if (!clock) embedClocks.set(summary, (clock = { inFlight: 0, since: 0 }));
  if (clock.inFlight++ === 0) clock.since = performance.now();
  try {
    return await fn();
  } finally {
    if (--clock.inFlight === 0) summary.embedSeconds += (performance.now() - clock.since) / 1000;
  }
}

/** Counts a text's content tokens with the model's tokenizer (special tokens excluded). */
export function tokenCounter(model: EmbeddingModel): (s: string) => number {
  const tok = model.text.tokenizer;
  const specials = tok.countTokens('');
  return (s) => Math.max(0, tok.countTokens(s) - specials);
}

async function prune(t: Trellis, collection: Collection, roots: string[]): Promise<number> {
  const gone: string[] = [];
  for (const { id, source } of t.store.listSources(collection.name)) {
    const file = source.includes('#') && !existsSync(source) ? source.slice(0, source.lastIndexOf('#')) : source;
    const underRoot = roots.some((r) => file === r || file.startsWith(r.endsWith(sep) ? r : r + sep));
    if (underRoot && !existsSync(file)) gone.push(id);
  }
  if (gone.length === 0) return 0;
  const r = await t.indexes.deleteDocuments(collection.name, gone);
  return r.documents.length;
}

/** Supported files under the roots, sorted; hidden files and folders are left out, symlinks are not followed. */
function collectFiles(roots: string[], kind: 'text' | 'image'): { files: string[]; ignored: number } {
  const files = new Set<string>();
  let ignored = 0;
  const visit = (path: string, explicit: boolean): void => {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) {
      for (const name of readdirSync(path).sort()) if (!name.startsWith('.')) visit(join(path, name), false);
      return;
    }
    if (!st.isFile()) return;
    const ft = fileType(path);
    if (!ft) {
      if (explicit) throw new StoreError('INVALID_ARGUMENT', `${path}: unsupported file type`);
      return;
    }
    if (ft.kind !== kind) {
      ignored++;
      return;
    }
    files.add(path);
  };
  for (const r of roots) visit(r, true);
  return { files: [...files].sort(), ignored };
}

function counters(s: IngestSummary): Record<string, number> {
  return { files: s.files, documents: s.documents, chunks: s.chunks, skipped: s.skipped, duplicates: s.duplicates, failed: s.failed.length, pruned: s.pruned };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
