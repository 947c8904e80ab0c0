import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EngineError } from '../engine/errors.ts';
import { LabelSet } from '../engine/label-set.ts';
import type { KernelChoice } from '../engine/types.ts';
import { LocalVectorIndex, createIndex, createLocalIndex, loadLocalIndex } from '../index/index.ts';
import type { PineconeConfig, PineconeIndex } from '../index/pinecone.ts';
import type { LocalIndex, VectorIndex } from '../index/types.ts';
import { StoreError } from './errors.ts';
import { parseFilter } from './filter.ts';
import type { KeywordMatch } from './fts.ts';
import type { ChunkRecord, Collection, CollectionInput, DeleteResult, DocumentInput, Store, StoreCounts, UpsertResult } from './store.ts';

export type Logger = (line: string) => void;

export interface IndexManagerOptions {
  /** Where index files live. Default: `indexes/` beside the database file (`TRELLIS_HOME/indexes`). */
  dir?: string;
  /** Receives one line per recovery action (rebuild, catch-up). Default `console.error`. */
  log?: Logger;
  /** Distance kernels for the trellis backend. */
  kernels?: KernelChoice;
  /** Vectors per batch when rebuilding from the store. Default 2048. */
  batchSize?: number;
  /** Where `pinecone` collections live (host, key; default from PINECONE_INDEX_HOST / PINECONE_API_KEY). */
  pinecone?: Omit<PineconeConfig, 'namespace'>;
}

/** What `trellis collections stats` prints. `indexed` is the live vector count of the collection's index. */
export interface CollectionStats extends StoreCounts {
  indexed: number;
}

export interface VectorSearchOptions {
  /** A metadata filter (see docs/store.md); applied exactly, through the engine's allow-set. */
  filter?: unknown;
  /** Beam width for this query; default the collection's efSearch. */
  efSearch?: number;
}

export interface SearchHit {
  label: number;
  chunkId: string;
  documentId: string;
  /** Vector modes: the index distance (smaller is nearer; see src/index/types.ts). Absent for keyword-only hits. */
  distance?: number;
  /** Keyword modes: the BM25 score (larger is better). */
  bm25?: number;
  /** Hybrid: the reciprocal-rank-fusion score (larger is better). */
  rrf?: number;
  chunk: ChunkRecord;
}

export type SearchMode = 'vector' | 'keyword' | 'hybrid';

export interface SearchRequest {
  mode: SearchMode;
  k: number;
  /** Query vector (vector and hybrid modes). */
  vector?: ArrayLike<number>;
  /** Query text (keyword and hybrid modes). */
  text?: string;
  filter?: unknown;
  efSearch?: number;
  /** Keyword matching (default `any`). */
  match?: KeywordMatch;
  /** Hybrid: weight of each ranking in the fusion. Default 1 and 1. */
  weights?: { vector?: number; keyword?: number };
  /** Hybrid: RRF constant (score = sum of weight / (rrfK + rank)). Default 60. */
  rrfK?: number;
  /** Hybrid: candidates taken from each ranking. Default max(100, 2k). */
  candidates?: number;
}

interface Entry {
  collection: Collection;
  index: VectorIndex;
  local?: LocalIndex;
  /** Set for `pinecone` collections: vectors carry their chunk metadata, and filters go to Pinecone as they are. */
  remote?: PineconeIndex;
  dirty: boolean;
}

/**
 * Keeps each collection's vector index in step with the store. The store is the source of truth; the index is derived.
 *
 * On open, an index file that is missing, corrupt (EngineError CORRUPT_FILE), built with other parameters, or behind or
 * ahead of the store (its live labels compared with the store's chunk labels) is rebuilt or caught up from the stored
 * vectors, with one log line saying which and why. Writes go to the store first (one transaction), then to the index;
 * the index file is saved (atomically) by `save`/`flush`/`close`, and after every recovery. If the process dies before a
 * save, the next open catches the index up: labels are never reused, so label sets alone tell what is missing or stale.
 */
export class IndexManager {
  readonly dir: string;
  private readonly log: Logger;
  private readonly entries = new Map<string, Promise<Entry>>();

  constructor(
    readonly store: Store,
    private readonly opts: IndexManagerOptions = {},
  ) {
    this.dir = opts.dir ?? join(dirname(store.path), 'indexes');
    this.log = opts.log ?? ((line) => console.error(line));
  }

  /** The index file of a collection (trellis: `<name>.hnsw`; hnswlib: `<name>.hnswlib` plus `.meta.json`); undefined for `flat`. */
  indexPath(collection: Collection | string): string | undefined {
    const c = typeof collection === 'string' ? this.store.requireCollection(collection) : collection;
    switch (c.backend) {
      case 'trellis':
        return join(this.dir, `${c.name}.hnsw`);
      case 'hnswlib':
        return join(this.dir, `${c.name}.hnswlib`);
      default:
        return undefined;
    }
  }

  /** Creates the collection in the store and saves its empty index. */
  async createCollection(input: CollectionInput): Promise<Collection> {
    const c = this.store.createCollection(input);
    const e = await this.open(c.name);
    await this.saveEntry(e);
    return c;
  }

  /** Deletes the collection from the store (cascading to everything in it) and removes its index files. */
  async deleteCollection(name: string): Promise<boolean> {
    const c = this.store.getCollection(name);
    if (!c) return false;
    if (c.backend === 'pinecone') await (await this.open(name)).remote!.clear();
    const path = this.indexPath(c);
    this.entries.delete(name);
    const gone = this.store.deleteCollection(name);
    if (path) {
      rmSync(path, { force: true });
      rmSync(`${path}.meta.json`, { force: true }); // hnswlib's sidecar (src/index/hnswlib.ts hnswlibMetaPath)
    }
    return gone;
  }

  /** The collection's index, opened (and recovered if needed) on first use, then cached. */
  async index(name: string): Promise<VectorIndex> {
    return (await this.open(name)).index;
  }

  private open(name: string): Promise<Entry> {
    const c = this.store.requireCollection(name);
    let p = this.entries.get(name);
    if (p) {
      // A collection deleted and re-created under the same name behind our back gets a fresh entry.
      return p.then((e) => {
        if (e.collection.id === c.id) return e;
        this.entries.delete(name);
        return this.open(name);
      });
    }
    p = this.load(c);
    this.entries.set(name, p);
    p.catch(() => this.entries.delete(name));
    return p;
  }

  /** Drops the cached index (unsaved changes are not lost: the next open catches up from the store). */
  forget(name: string): void {
    this.entries.delete(name);
  }

  private async load(c: Collection): Promise<Entry> {
    if (c.backend === 'pinecone') return this.loadRemote(c);
    const path = this.indexPath(c);
    let local: LocalIndex | undefined;
    let reason: string | undefined;
    let missing = false;
    if (!path) {
      reason = undefined; // flat: nothing on disk, built from the store every time (not a recovery, no log line)
    } else if (!existsSync(path)) {
      reason = `index file ${path} is missing`;
      missing = true;
    } else {
      try {
        local = await loadLocalIndex(c.backend, path);
      } catch (err) {
        if (err instanceof EngineError && err.code === 'CORRUPT_FILE') reason = `index file is corrupt (${err.message})`;
        else throw err;
      }
      if (local && (local.dim !== c.dim || local.metric !== c.metric)) {
        reason = `index file has dim ${local.dim} / ${local.metric}, the collection has dim ${c.dim} / ${c.metric}`;
        local = undefined;
      }
    }
    const counts = this.store.counts(c.name);
    if (local) {
      const entry: Entry = { collection: c, local, index: new LocalVectorIndex(local), dirty: false };
      const outcome = await this.catchUp(entry);
      if (outcome === 'ok') return entry;
      reason = outcome;
    }
    const entry = await this.build(c);
    if (path) {
      // A new, empty collection has no file yet: creating it is not a recovery, so it goes unlogged.
      if (counts.chunks > 0) this.log(`trellis: rebuilt the index of collection "${c.name}" from ${counts.chunks} stored vectors: ${reason}`);
      else if (!missing) this.log(`trellis: replaced the index of empty collection "${c.name}": ${reason}`);
      await this.saveEntry(entry);
    }
    return entry;
  }

  /**
   * A Pinecone collection: one namespace named after the collection, in the index at `pinecone.indexHost`. The store
   * still holds every vector, so a namespace whose count disagrees with the store (a crash between the two writes,
   * or someone else's writes) is cleared and re-upserted from the store, with a log line.
   */
  private async loadRemote(c: Collection): Promise<Entry> {
    const remote = (await createIndex('pinecone', { dim: c.dim, metric: c.metric, namespace: c.name, ...this.opts.pinecone })) as PineconeIndex;
    const entry: Entry = { collection: c, index: remote, remote, dirty: false };
    const stored = this.store.counts(c.name).chunks;
    const held = (await remote.stats()).count;
    if (held !== stored) {
      this.log(`trellis: Pinecone namespace "${c.name}" holds ${held} vectors and the store ${stored}; re-upserting the namespace from the store`);
      await remote.clear();
      for (const batch of this.store.iterateVectors(c.name, { batchSize: this.opts.batchSize ?? 2048 })) {
        await remote.add(batch.labels, batch.vectors, { metadata: this.metadataOf(c.name, batch.labels) });
      }
    }
    return entry;
  }

  private metadataOf(collection: string, labels: ArrayLike<number>): Record<string, unknown>[] {
    return this.store.getChunksByLabels(collection, labels).map((ch) => ch?.metadata ?? {});
  }

  /** Builds a fresh index of the collection from the stored vectors, streaming them in batches. */
  private async build(c: Collection): Promise<Entry> {
    const counts = this.store.counts(c.name);
    const local = await createLocalIndex(c.backend, {
      dim: c.dim,
      metric: c.metric,
      m: c.m,
      efConstruction: c.efConstruction,
      efSearch: c.efSearch,
      capacity: Math.max(16, counts.chunks),
      kernels: this.opts.kernels,
    });
    for (const batch of this.store.iterateVectors(c.name, { batchSize: this.opts.batchSize ?? 2048 })) {
      local.addBatch(batch.labels, batch.vectors);
    }
    return { collection: c, local, index: new LocalVectorIndex(local), dirty: false };
  }

  /**
   * Compares the index's live labels with the store's and applies the difference. Returns 'ok', or the reason the index
   * must be rebuilt instead (it holds labels the store never issued).
   */
  private async catchUp(entry: Entry): Promise<'ok' | string> {
    const c = this.store.requireCollection(entry.collection.name);
    const has = entry.local ? (l: number) => entry.local!.has(l) : undefined;
    const hasAsync = async (l: number) => (has ? has(l) : entry.index.has(l));
    const stored = new LabelSet(Math.max(32, c.nextLabel));
    let storedCount = 0;
    const missing: number[] = [];
    for (const batch of this.store.iterateLabels(c.name)) {
      for (const l of batch) {
        stored.add(l);
        storedCount++;
        if (!(has ? has(l) : await hasAsync(l))) missing.push(l);
      }
    }
    const extraCount = entry.index.size - (storedCount - missing.length);
    const extra: number[] = [];
    if (extraCount > 0) {
      // Labels are issued from the collection's counter and never reused, so a stale label is below nextLabel.
      for (let l = 0; l < c.nextLabel && extra.length < extraCount; l++) {
        if (!stored.has(l) && (has ? has(l) : await hasAsync(l))) extra.push(l);
      }
      if (extra.length < extraCount) return `index holds ${extraCount - extra.length} labels the store never issued`;
    }
    if (missing.length === 0 && extra.length === 0) return 'ok';
    if (extra.length) await entry.index.delete(extra);
    for (let i = 0; i < missing.length; i += 2048) {
      const batch = this.store.vectorsForLabels(c.name, missing.slice(i, i + 2048));
      await entry.index.add(batch.labels, batch.vectors);
    }
    const parts: string[] = [];
    if (missing.length) parts.push(`behind the store by ${missing.length} vectors (added them from the store)`);
    if (extra.length) parts.push(`ahead of the store by ${extra.length} deleted vectors (removed them)`);
    this.log(`trellis: caught up the index of collection "${c.name}": it was ${parts.join(' and ')}; now ${entry.index.size} vectors`);
    entry.dirty = true;
    await this.saveEntry(entry);
    return 'ok';
  }

  /** Re-checks a cached index against the store (after another process wrote to it) and catches it up. */
  async reconcile(name: string): Promise<void> {
    const e = await this.open(name);
    const outcome = await this.catchUp(e);
    if (outcome !== 'ok') {
      this.entries.delete(name);
      const path = this.indexPath(e.collection);
      const fresh = await this.build(this.store.requireCollection(name));
      this.log(`trellis: rebuilt the index of collection "${name}" from ${fresh.index.size} stored vectors: ${outcome}`);
      if (path) await this.saveEntry(fresh);
      this.entries.set(name, Promise.resolve(fresh));
    }
  }

  /** Rebuilds the collection's index from the store, whatever its state, and saves it. */
  async rebuild(name: string, reason = 'asked to'): Promise<void> {
    const c = this.store.requireCollection(name);
    this.entries.delete(name);
    const fresh = await this.build(c);
    this.log(`trellis: rebuilt the index of collection "${name}" from ${fresh.index.size} stored vectors: ${reason}`);
    if (this.indexPath(c)) await this.saveEntry(fresh);
    this.entries.set(name, Promise.resolve(fresh));
  }

  // -------------------------------------------------------------------------------------------------------------
  // Writes: store first, then the index

  async upsertDocument(collection: string, doc: DocumentInput): Promise<UpsertResult> {
    const e = await this.open(collection);
    const r = this.store.upsertDocument(collection, doc);
    await this.apply(e, r.added, r.vectors, r.removed);
    return r;
  }

  async deleteDocuments(collection: string, ids: readonly string[]): Promise<DeleteResult> {
    const e = await this.open(collection);
    const r = this.store.deleteDocuments(collection, ids);
    await this.apply(e, new Uint32Array(0), new Float32Array(0), r.removed);
    return r;
  }

  async deleteDocumentsWhere(collection: string, filter: unknown): Promise<DeleteResult> {
    const e = await this.open(collection);
    const r = this.store.deleteDocumentsWhere(collection, filter);
    await this.apply(e, new Uint32Array(0), new Float32Array(0), r.removed);
    return r;
  }

  private async apply(e: Entry, added: Uint32Array, vectors: Float32Array, removed: Uint32Array): Promise<void> {
    if (added.length === 0 && removed.length === 0) return;
    try {
      const gone: number[] = [];
      for (const l of removed) if (await e.index.has(l)) gone.push(l);
      if (gone.length) await e.index.delete(gone);
      if (added.length && e.remote) await e.remote.add(added, vectors, { metadata: this.metadataOf(e.collection.name, added) });
      else if (added.length) await e.index.add(added, vectors);
      e.dirty = true;
    } catch (err) {
      // The store has committed; bring the index back in line with it rather than fail a write that happened.
      this.log(`trellis: index of collection "${e.collection.name}" refused an update (${(err as Error).message}); reconciling with the store`);
      await this.reconcile(e.collection.name);
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Reads

  async stats(collection: string): Promise<CollectionStats> {
    const e = await this.open(collection);
    return { ...this.store.counts(collection), indexed: e.index.size };
  }

  /** k nearest chunks to `vector`, nearest first; with a filter, only chunks whose metadata matches (exactly). */
  async vectorSearch(collection: string, vector: ArrayLike<number>, k: number, opts: VectorSearchOptions = {}): Promise<SearchHit[]> {
    const e = await this.open(collection);
    const c = e.collection;
    const f = parseFilter(opts.filter);
    if (e.remote) return this.remoteSearch(e, vector, k, f.matchesAll ? undefined : (f.source as Record<string, unknown>));
    const allow = f.matchesAll ? undefined : this.store.allowSet(collection, f);
    if (k === 0 || (allow && allow.size === 0) || e.index.size === 0) return [];
    const res = await e.index.search(vector, k, { efSearch: opts.efSearch ?? this.store.requireCollection(c.name).efSearch, filter: allow });
    const chunks = this.store.getChunksByLabels(collection, res.labels);
    const hits: SearchHit[] = [];
    chunks.forEach((chunk, i) => {
      if (chunk) hits.push({ label: chunk.label, chunkId: chunk.id, documentId: chunk.documentId, distance: res.distances[i], chunk });
    });
    return hits;
  }

  /** Pinecone evaluates the filter itself, on the chunk metadata stored with each vector: passed through unchanged. */
  private async remoteSearch(e: Entry, vector: ArrayLike<number>, k: number, metadataFilter: Record<string, unknown> | undefined): Promise<SearchHit[]> {
    if (k === 0) return [];
    const res = await e.remote!.search(vector, k, { metadataFilter });
    const chunks = this.store.getChunksByLabels(e.collection.name, res.labels);
    const hits: SearchHit[] = [];
    chunks.forEach((chunk, i) => {
      if (chunk) hits.push({ label: chunk.label, chunkId: chunk.id, documentId: chunk.documentId, distance: res.distances[i], chunk });
    });
    return hits;
  }

  /** `vector`, `keyword` (FTS5 BM25) or `hybrid` (weighted reciprocal rank fusion of the two). Filters apply to all three. */
  async search(collection: string, req: SearchRequest): Promise<SearchHit[]> {
    const { mode, k } = req;
    if (!Number.isInteger(k) || k < 0) throw new StoreError('INVALID_ARGUMENT', `k must be a non-negative integer, got ${String(k)}`);
    const filter = parseFilter(req.filter);
    const needVector = mode === 'vector' || mode === 'hybrid';
    const needText = mode === 'keyword' || mode === 'hybrid';
    if (mode !== 'vector' && mode !== 'keyword' && mode !== 'hybrid') throw new StoreError('INVALID_ARGUMENT', `unknown search mode ${JSON.stringify(mode)}`);
    if (needVector && !req.vector) throw new StoreError('INVALID_ARGUMENT', `${mode} search needs a query vector`);
    if (needText && typeof req.text !== 'string') throw new StoreError('INVALID_ARGUMENT', `${mode} search needs query text`);
    if (mode === 'vector') return this.vectorSearch(collection, req.vector!, k, { filter, efSearch: req.efSearch });
    const keywordHits = (n: number): SearchHit[] => {
      const hits = this.store.keywordSearch(collection, req.text!, n, { filter, match: req.match });
      const chunks = this.store.getChunksByLabels(
        collection,
        hits.map((h) => h.label),
      );
      return hits.flatMap((h, i) => (chunks[i] ? [{ label: h.label, chunkId: h.chunkId, documentId: h.documentId, bm25: h.score, chunk: chunks[i]! }] : []));
    };
    if (mode === 'keyword') return keywordHits(k);

    const n = req.candidates ?? Math.max(100, 2 * k);
    const rrfK = req.rrfK ?? 60;
    const wv = req.weights?.vector ?? 1;
    const wk = req.weights?.keyword ?? 1;
    const vec = await this.vectorSearch(collection, req.vector!, n, { filter, efSearch: req.efSearch });
    const kw = keywordHits(n);
    const fused = new Map<number, SearchHit>();
    const addRanking = (hits: SearchHit[], w: number) =>
      hits.forEach((h, rank) => {
        const prev = fused.get(h.label);
        const s = w / (rrfK + rank + 1);
        if (prev) {
          prev.rrf = (prev.rrf ?? 0) + s;
          prev.distance ??= h.distance;
          prev.bm25 ??= h.bm25;
        } else fused.set(h.label, { ...h, rrf: s });
      });
    addRanking(vec, wv);
    addRanking(kw, wk);
    return [...fused.values()].sort((a, b) => b.rrf! - a.rrf! || a.label - b.label).slice(0, k);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Persistence

  private async saveEntry(e: Entry): Promise<void> {
    const path = this.indexPath(e.collection);
    if (!path) {
      e.dirty = false;
      return;
    }
    mkdirSync(dirname(path), { recursive: true });
    await e.index.save(path); // atomic: temp file, fsync, rename
    e.dirty = false;
  }

  /** Saves the collection's index if it changed since the last save. */
  async save(collection: string): Promise<void> {
    const e = await this.open(collection);
    if (e.dirty) await this.saveEntry(e);
  }

  /** Saves every changed index. */
  async flush(): Promise<void> {
    for (const [name, p] of [...this.entries]) {
      let e: Entry;
      try {
        e = await p;
      } catch {
        continue;
      }
      if (e.dirty && this.store.getCollection(name)?.id === e.collection.id) await this.saveEntry(e);
    }
  }

  /** Saves changed indexes and forgets them. The store stays open (it is the caller's). */
  async close(): Promise<void> {
    await this.flush();
    this.entries.clear();
  }
}
