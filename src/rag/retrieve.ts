import type { Trellis } from '../context.ts';
import { StoreError, type Collection, type SearchHit, type SearchMode } from '../store/index.ts';

/** A search request as callers (CLI, HTTP, the ask pipeline) state it. Give one of text, vector or image. */
export interface RetrieveRequest {
  text?: string;
  vector?: ArrayLike<number>;
  /** Encoded image bytes: image-to-image search on a CLIP collection. */
  image?: Uint8Array;
  k: number;
  filter?: unknown;
  efSearch?: number;
  /** Default `vector`. `keyword` and `hybrid` need text. */
  mode?: SearchMode;
  /** Hybrid: weight of each ranking in reciprocal rank fusion (default 1 and 1). */
  weights?: { vector?: number; keyword?: number };
  signal?: AbortSignal;
}

export interface RetrievedHit {
  /** Chunk id. */
  id: string;
  documentId: string;
  label: number;
  /** Higher is better: similarity (1 - distance) for cosine/ip, -distance for l2, BM25 for keyword, RRF for hybrid. */
  score: number;
  distance?: number;
  bm25?: number;
  rrf?: number;
  text: string;
  source: string | null;
  page: number | null;
  metadata: Record<string, unknown>;
}

export interface RetrieveResult {
  collection: string;
  mode: SearchMode;
  hits: RetrievedHit[];
  timings: { embedMs: number; searchMs: number };
}

/**
 * Embeds the query with the collection's own model (text through the text tower, so on a CLIP image
 * collection a text query is text-to-image search; an image through the vision tower) and searches.
 */
export async function retrieve(t: Trellis, collectionName: string, req: RetrieveRequest): Promise<RetrieveResult> {
  const collection = t.store.requireCollection(collectionName);
  const mode = req.mode ?? 'vector';
  const given = [req.text !== undefined, req.vector !== undefined, req.image !== undefined].filter(Boolean).length;
  if (given !== 1) throw new StoreError('INVALID_ARGUMENT', 'give exactly one of text, vector or image');
  if ((mode === 'keyword' || mode === 'hybrid') && req.text === undefined) throw new StoreError('INVALID_ARGUMENT', `${mode} search needs text`);

  const t0 = performance.now();
  let vector: ArrayLike<number> | undefined = req.vector;
  if (vector !== undefined && vector.length !== collection.dim) {
    throw new StoreError('DIMENSION_MISMATCH', `vector has ${vector.length} dimensions; collection "${collection.name}" holds ${collection.dim}`);
  }
  if (mode !== 'keyword' && vector === undefined) {
    const model = await t.modelFor(collection);
    const r = req.image !== undefined ? await model.embedImages([req.image], { signal: req.signal }) : await model.embedTexts([req.text!], { signal: req.signal });
    vector = r.vectors;
  }
  const t1 = performance.now();
  const hits = await t.indexes.search(collection.name, { mode, k: req.k, vector, text: req.text, filter: req.filter, efSearch: req.efSearch, weights: req.weights });
  const t2 = performance.now();
  return { collection: collection.name, mode, hits: hits.map((h) => toHit(h, collection, mode)), timings: { embedMs: t1 - t0, searchMs: t2 - t1 } };
}

function toHit(h: SearchHit, c: Collection, mode: SearchMode): RetrievedHit {
  const similarity = h.distance === undefined ? undefined : c.metric === 'l2' ? -h.distance : 1 - h.distance;
  const score = mode === 'hybrid' ? h.rrf! : mode === 'keyword' ? h.bm25! : similarity!;
  return {
    id: h.chunkId,
    documentId: h.documentId,
    label: h.label,
    score,
    distance: h.distance,
    bm25: h.bm25,
    rrf: h.rrf,
    text: h.chunk.text,
    source: h.chunk.source,
    page: h.chunk.page,
    metadata: h.chunk.metadata,
  };
}
