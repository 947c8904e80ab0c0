import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { chunkText, DEFAULT_CHUNKING, validateChunking, type ChunkOptions } from '../../../indexer/chunker.ts';
import { ingest, tokenCounter } from '../../../indexer/ingest.ts';
import { fileType } from '../../../indexer/loaders/index.ts';
import type { ChunkInput } from '../../store/index.ts';
import { normalizeMetadata, parseFilter } from '../../store/index.ts';
import { ApiError } from '../errors.ts';
import { jsonField, numberField, parse, readMultipart, requireJson } from '../http.ts';
import { CollectionParams, DeleteDocumentsBody, DocumentParams, UpsertDocumentsBody } from '../schemas.ts';
import type { ApiDeps, ApiRouter } from '../types.ts';

export function documentRoutes(r: ApiRouter, d: ApiDeps): void {
  const { t, need } = d;

  /**
   * Upsert JSON documents. Everything is validated and embedded before the first write, so a bad request (bad
   * metadata, wrong dimension, unembeddable text) changes nothing.
   */
  r.post('/collections/:collection/documents', need('write'), async (ctx) => {
    const { collection } = parse(CollectionParams, ctx.params);
    requireJson(ctx);
    const c = t.store.requireCollection(collection);
    const body = parse(UpsertDocumentsBody, ctx.request.body);
    const model = await t.modelFor(c);
    const count = tokenCounter(model);
    const plans: { id: string; source?: string; metadata: Record<string, unknown>; pieces: { text: string; start?: number; end?: number; vector?: number[] }[] }[] = [];
    const toEmbed: string[] = [];
    body.documents.forEach((doc, i) => {
      const where = `documents.${i}`;
      let metadata: Record<string, unknown>;
      try {
        metadata = normalizeMetadata(doc.metadata ?? {}, `${where}.metadata`);
      } catch (err) {
        throw new ApiError(400, 'INVALID_ARGUMENT', (err as Error).message, `${where}.metadata`);
      }
      if (doc.vector) {
        if (doc.vector.length !== c.dim) throw new ApiError(422, 'DIMENSION_MISMATCH', `${where}.vector has ${doc.vector.length} dimensions; collection "${c.name}" holds ${c.dim}`, `${where}.vector`);
        plans.push({ id: doc.id, source: doc.source, metadata, pieces: [{ text: doc.text ?? '', vector: doc.vector }] });
        return;
      }
      let chunking: ChunkOptions;
      try {
        chunking = validateChunking({ chunkSize: doc.chunkSize ?? DEFAULT_CHUNKING.chunkSize, chunkOverlap: doc.chunkOverlap ?? Math.min(DEFAULT_CHUNKING.chunkOverlap, (doc.chunkSize ?? DEFAULT_CHUNKING.chunkSize) - 1) });
      } catch (err) {
        throw new ApiError(400, 'INVALID_ARGUMENT', (err as Error).message, `${where}.chunkOverlap`);
      }
      const pieces = chunkText(doc.text!, count, chunking);
      toEmbed.push(...pieces.map((p) => p.text));
      plans.push({ id: doc.id, source: doc.source, metadata, pieces });
    });
    const ids = new Set<string>();
    for (const [i, p] of plans.entries()) {
      if (ids.has(p.id)) throw new ApiError(400, 'INVALID_ARGUMENT', `documents.${i}.id: duplicate id "${p.id}" in the request`, `documents.${i}.id`);
      ids.add(p.id);
    }
    const embedded = toEmbed.length ? await model.embedTexts(toEmbed) : undefined;
    let row = 0;
    const out: { id: string; chunks: number; created: boolean }[] = [];
    for (const p of plans) {
      const chunks: ChunkInput[] = p.pieces.map((piece) => ({
        text: piece.text,
        start: piece.start,
        end: piece.end,
        vector: piece.vector ?? embedded!.vectors.subarray(row * c.dim, (row++ + 1) * c.dim),
      }));
      const res = await t.indexes.upsertDocument(c.name, { id: p.id, source: p.source, metadata: p.metadata, chunks });
      out.push({ id: p.id, chunks: chunks.length, created: res.created });
    }
    ctx.body = { upserted: out };
  });

  /** Upload files (multipart `files`) through the ingest pipeline; large uploads become an `ingest` job (202). */
  r.post('/collections/:collection/documents/upload', need('write'), async (ctx) => {
    const { collection } = parse(CollectionParams, ctx.params);
    const c = t.store.requireCollection(collection);
    const { fields, files } = await readMultipart(ctx, { fileBytes: d.limits.fileBytes, files: d.limits.files });
    if (files.length === 0) throw new ApiError(400, 'INVALID_ARGUMENT', 'no file in the upload: send one or more files (any field name, e.g. "files")', 'files');
    for (const f of files) {
      const ft = fileType(f.name);
      if (!ft) throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `${f.name}: unsupported file type (txt, md, html, pdf, json, jsonl, csv, png, jpg, ...)`, 'files');
      if (ft.kind !== c.kind) throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `${f.name}: a ${ft.kind} file; collection "${c.name}" holds ${c.kind}`, 'files');
    }
    const meta = jsonField(fields, 'metadata');
    let metadata: Record<string, string | number | boolean | string[]> | undefined;
    try {
      metadata = meta === undefined ? undefined : (normalizeMetadata(meta, 'metadata') as typeof metadata);
    } catch (err) {
      throw new ApiError(400, 'INVALID_ARGUMENT', (err as Error).message, 'metadata');
    }
    const chunkSize = numberField(fields, 'chunkSize');
    const chunkOverlap = numberField(fields, 'chunkOverlap');
    let chunking: ChunkOptions | undefined;
    if (chunkSize !== undefined || chunkOverlap !== undefined) {
      const size = chunkSize ?? DEFAULT_CHUNKING.chunkSize;
      try {
        chunking = validateChunking({ chunkSize: size, chunkOverlap: chunkOverlap ?? Math.min(DEFAULT_CHUNKING.chunkOverlap, size - 1) });
      } catch (err) {
        throw new ApiError(400, 'INVALID_ARGUMENT', (err as Error).message, chunkSize !== undefined ? 'chunkSize' : 'chunkOverlap');
      }
    }
    const total = files.reduce((s, f) => s + f.size, 0);
    const async = total > d.limits.asyncBytes || files.length > d.limits.asyncFiles;
    if (async && !d.jobs) throw new ApiError(413, 'PAYLOAD_TOO_LARGE', 'upload too large to ingest inline and no job queue is running', 'files');
    // Stable paths per collection and file name: uploading a file again replaces its document.
    const dir = join(t.config.home, 'uploads', c.name, async ? randomUUID() : '');
    mkdirSync(dir, { recursive: true });
    const paths: string[] = [];
    const seen = new Set<string>();
    for (const f of files) {
      const safe = basename(f.name).replace(/[^\w.\- ]+/g, '_').replace(/^\.+/, '_') || 'upload';
      if (seen.has(safe)) throw new ApiError(400, 'INVALID_ARGUMENT', `two files named "${safe}" in one upload`, 'files');
      seen.add(safe);
      const path = join(dir, safe);
      writeFileSync(path, f.buffer);
      paths.push(path);
    }
    if (async) {
      const job = await d.jobs!.submit('ingest', { collection: c.name, paths, ...(metadata ? { metadata } : {}), ...(chunking ? { chunkSize: chunking.chunkSize, chunkOverlap: chunking.chunkOverlap } : {}) });
      ctx.status = 202;
      ctx.set('Location', `/v1/jobs/${job.id}`);
      ctx.body = { job };
      return;
    }
    const summary = await ingest(t, { collection: c.name, paths, metadata, chunking });
    ctx.body = { ingested: summary };
  });

  r.get('/collections/:collection/documents/:id', need('read'), async (ctx) => {
    const { collection, id } = parse(DocumentParams, ctx.params);
    t.store.requireCollection(collection);
    const withVector = ctx.query.vectors === 'true' || ctx.query.vectors === '1';
    const doc = t.store.getDocument(collection, id);
    if (!doc) throw new ApiError(404, 'NOT_FOUND', `no document "${id}" in collection "${collection}"`, 'id');
    const chunks = t.store.listChunks(collection, id, { withVector }).map((ch) => ({
      id: ch.id,
      ordinal: ch.ordinal,
      kind: ch.kind,
      text: ch.text,
      source: ch.source,
      start: ch.start,
      end: ch.end,
      page: ch.page,
      metadata: ch.metadata,
      ...(withVector && ch.vector ? { vector: Array.from(ch.vector) } : {}),
    }));
    ctx.body = { ...doc, chunks };
  });

  r.delete('/collections/:collection/documents/:id', need('write'), async (ctx) => {
    const { collection, id } = parse(DocumentParams, ctx.params);
    t.store.requireCollection(collection);
    if (!t.store.getDocument(collection, id)) throw new ApiError(404, 'NOT_FOUND', `no document "${id}" in collection "${collection}"`, 'id');
    const res = await t.indexes.deleteDocuments(collection, [id]);
    ctx.body = { deleted: res.documents, chunks: res.removed.length };
  });

  /** Delete by ids or by a metadata filter (on document metadata). */
  r.post('/collections/:collection/documents/delete', need('write'), async (ctx) => {
    const { collection } = parse(CollectionParams, ctx.params);
    requireJson(ctx);
    t.store.requireCollection(collection);
    const body = parse(DeleteDocumentsBody, ctx.request.body);
    if (body.filter !== undefined) {
      parseFilter(body.filter); // 400 naming the path before anything is touched
      if (Object.keys(body.filter).length === 0) throw new ApiError(400, 'INVALID_FILTER', 'an empty filter would delete every document; delete the collection instead', 'filter');
      const res = await t.indexes.deleteDocumentsWhere(collection, body.filter);
      ctx.body = { deleted: res.documents, chunks: res.removed.length };
      return;
    }
    const res = await t.indexes.deleteDocuments(collection, body.ids!);
    ctx.body = { deleted: res.documents, chunks: res.removed.length };
  });
}

