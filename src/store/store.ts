import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { DEFAULTS } from '../config.ts';
import { LabelSet } from '../engine/index.ts';
import { METRICS, type Metric } from '../engine/types.ts';
import { ALL_BACKENDS, type BackendName } from '../index/types.ts';
import { StoreError } from './errors.ts';
import { type Filter, type Metadata, normalizeMetadata, parseFilter } from './filter.ts';
import { type KeywordMatch, toFtsQuery } from './fts.ts';
import { LATEST_VERSION, currentVersion, migrate } from './migrations.ts';

// ---------------------------------------------------------------------------------------------------------------
// Public types

export type CollectionKind = 'text' | 'image';
export const COLLECTION_KINDS: readonly CollectionKind[] = ['text', 'image'];
/** Collection names: 1-64 characters, letters, digits, `_` and `-`, starting with a letter or digit (they name files). */
export const COLLECTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** Largest engine label (the engine takes labels in [0, 2^32-2]). Labels are never reused within a collection. */
export const MAX_LABEL = 0xfffffffe;

export interface CollectionInput {
  name: string;
  /** `text` (default) or `image`. */
  kind?: CollectionKind;
  /** Embedding model tag, e.g. `trellis-static-wp256`. */
  model: string;
  dim: number;
  /** Default `cosine`. */
  metric?: Metric;
  /** HNSW parameters; defaults come from the store's options (config `hnsw`). */
  m?: number;
  efConstruction?: number;
  efSearch?: number;
  /** Default `trellis`. */
  backend?: BackendName;
  metadata?: Record<string, unknown>;
}

export interface Collection {
  id: number;
  name: string;
  kind: CollectionKind;
  model: string;
  dim: number;
  metric: Metric;
  m: number;
  efConstruction: number;
  efSearch: number;
  backend: BackendName;
  /** The next label to be issued; every label ever issued is below it. */
  nextLabel: number;
  metadata: Metadata;
  createdAt: string;
}

export interface ChunkInput {
  /** Default `<documentId>#<ordinal>`. Unique within the collection. */
  id?: string;
  /** Text indexed for keyword search (may be empty, e.g. for an image). */
  text?: string;
  /** Default: the collection's kind. */
  kind?: CollectionKind;
  /** Where an image chunk's pixels come from (path or URI); defaults to the document's source for images. */
  source?: string;
  /** Character offsets of the chunk in the document's text. */
  start?: number;
  end?: number;
  /** 1-based page (PDF). Also copied into the chunk's metadata as `page`. */
  page?: number;
  /** Chunk-level metadata; merged over the document's. */
  metadata?: Record<string, unknown>;
  /** `dim` numbers (any array-like; stored as float32). */
  vector: ArrayLike<number>;
}

export interface DocumentInput {
  id: string;
  source?: string;
  contentHash?: string;
  /** Source modification time, ms since the epoch. */
  mtime?: number;
  metadata?: Record<string, unknown>;
  /** The document's chunks, in order; they replace any chunks the document had. */
  chunks: ChunkInput[];
}

export interface DocumentRecord {
  collection: string;
  id: string;
  source: string | null;
  contentHash: string | null;
  mtime: number | null;
  metadata: Metadata;
  createdAt: string;
  updatedAt: string;
}

export interface ChunkRecord {
  collection: string;
  id: string;
  documentId: string;
  ordinal: number;
  kind: CollectionKind;
  text: string;
  source: string | null;
  start: number | null;
  end: number | null;
  page: number | null;
  label: number;
  /** Document metadata merged with the chunk's own (and `page`). This is what filters see. */
  metadata: Metadata;
  /** Present when asked for (`withVector`). */
  vector?: Float32Array;
}

export interface UpsertResult {
  document: DocumentRecord;
  /** Labels issued to the new chunks, in chunk order. */
  added: Uint32Array;
  /** Their vectors, row-major `added.length * dim` (what the index must add). */
  vectors: Float32Array;
  /** Labels of the chunks the document had before (what the index must delete). */
  removed: Uint32Array;
  /** True when the document did not exist before. */
  created: boolean;
}

export interface DeleteResult {
  /** Ids of the deleted documents. */
  documents: string[];
  /** Labels of their chunks (what the index must delete). */
  removed: Uint32Array;
}

export interface VectorBatch {
  labels: Uint32Array;
  /** Row-major `labels.length * dim`. */
  vectors: Float32Array;
}

export interface StoreCounts {
  documents: number;
  chunks: number;
  vectors: number;
}

export interface KeywordHit {
  chunkId: string;
  documentId: string;
  label: number;
  /** Higher is better: the negated FTS5 bm25() value. */
  score: number;
}

export interface KeywordSearchOptions {
  filter?: unknown;
  /** `any` (default): a chunk matches if it holds any query term, ranked by BM25. `all`: it must hold every term. */
  match?: KeywordMatch;
}

export type IngestRunStatus = 'running' | 'done' | 'failed' | 'interrupted' | 'cancelled';
export type IngestFileState = 'pending' | 'done' | 'skipped' | 'failed';

export interface IngestRun {
  id: number;
  collection: string;
  startedAt: string;
  finishedAt: string | null;
  status: IngestRunStatus;
  options: Record<string, unknown>;
  counters: Record<string, number>;
}

export interface IngestFile {
  runId: number;
  path: string;
  contentHash: string | null;
  state: IngestFileState;
  error: string | null;
  documentId: string | null;
  chunks: number | null;
  updatedAt: string;
}

export interface StoreOptions {
  /** Open read-only (no migrations are applied; a db behind the code is refused). */
  readonly?: boolean;
  /** How long a writer waits for another connection's lock, ms. Default 5000. */
  busyTimeoutMs?: number;
  /**
   * `normal` (default): in WAL mode a process crash never loses a committed transaction nor corrupts the file; a power
   * loss may roll back the last few commits (ingest resumes them). `full`: fsync at every commit.
   */
  synchronous?: 'normal' | 'full';
  /** Defaults for new collections' HNSW parameters (config `hnsw`). */
  hnsw?: Partial<{ m: number; efConstruction: number; efSearch: number }>;
}

// ---------------------------------------------------------------------------------------------------------------
// Row shapes

interface CollectionRow {
  id: number;
  name: string;
  kind: CollectionKind;
  model: string;
  dim: number;
  metric: Metric;
  m: number;
  ef_construction: number;
  ef_search: number;
  backend: BackendName;
  next_label: number;
  metadata: string;
  created_at: string;
}

interface DocumentRow {
  pk: number;
  id: string;
  source: string | null;
  content_hash: string | null;
  mtime: number | null;
  metadata: string;
  created_at: string;
  updated_at: string;
}

interface ChunkRow {
  id: string;
  document_id: string;
  ordinal: number;
  kind: CollectionKind;
  text: string;
  source: string | null;
  start_offset: number | null;
  end_offset: number | null;
  page: number | null;
  label: number;
  metadata: string;
  vector?: Buffer;
}

interface IngestRunRow {
  id: number;
  collection: string;
  started_at: string;
  finished_at: string | null;
  status: IngestRunStatus;
  options: string;
  counters: string;
}

interface IngestFileRow {
  run_id: number;
  path: string;
  content_hash: string | null;
  state: IngestFileState;
  error: string | null;
  document_id: string | null;
  chunks: number | null;
  updated_at: string;
}

const CHUNK_COLS = `c.id, d.id AS document_id, c.ordinal, c.kind, c.text, c.source, c.start_offset, c.end_offset, c.page, c.label, c.metadata`;

const now = (): string => new Date().toISOString();
const ftsTable = (collectionId: number): string => `chunks_fts_${collectionId}`;

function isPositiveInt(v: unknown, max = 1 << 30): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= max;
}

function optionalInt(v: unknown, what: string, where: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new StoreError('INVALID_ARGUMENT', `${where}: ${what} must be a non-negative integer, got ${String(v)}`);
  return v;
}

function vectorToBlob(v: ArrayLike<number>, dim: number, where: string): Buffer {
  if (v === undefined || v === null || typeof v.length !== 'number') throw new StoreError('INVALID_ARGUMENT', `${where}: vector is missing`);
  if (v.length !== dim) throw new StoreError('DIMENSION_MISMATCH', `${where}: vector has ${v.length} dimensions, the collection has ${dim}`);
  const f = v instanceof Float32Array ? v : Float32Array.from(v);
  for (let i = 0; i < f.length; i++) {
    if (!Number.isFinite(f[i])) throw new StoreError('INVALID_ARGUMENT', `${where}: vector[${i}] is ${f[i]} (vectors must be finite)`);
  }
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

function copyBlob(blob: Buffer, out: Float32Array, row: number, dim: number, what: string): void {
  if (blob.byteLength !== dim * 4) throw new StoreError('DIMENSION_MISMATCH', `${what}: stored vector has ${blob.byteLength} bytes, expected ${dim * 4}`);
  new Uint8Array(out.buffer, out.byteOffset + row * dim * 4, dim * 4).set(blob);
}

function blobToVector(blob: Buffer, dim: number, what: string): Float32Array {
  const out = new Float32Array(dim);
  copyBlob(blob, out, 0, dim, what);
  return out;
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === 'SQLITE_CONSTRAINT_UNIQUE' || (err as { code?: string })?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

// ---------------------------------------------------------------------------------------------------------------

/** The default database file: `TRELLIS_HOME/trellis.db`. */
export function defaultStorePath(home: string): string {
  return join(resolve(home), 'trellis.db');
}

/** Opens the store of a Trellis home (`loadConfig()`'s `home` and `hnsw`): `home/trellis.db`. */
export function openHomeStore(cfg: { home: string; hnsw?: StoreOptions['hnsw'] }, opts: Omit<StoreOptions, 'hnsw'> = {}): Store {
  return new Store(defaultStorePath(cfg.home), { ...opts, hnsw: cfg.hnsw });
}

/** Opens (creating and migrating as needed) the SQLite store at `path`. */
export function openStore(path: string, opts: StoreOptions = {}): Store {
  return new Store(path, opts);
}

/**
 * Trellis's SQLite store: collections, documents, chunks (text, offsets, metadata, the engine label and the vector),
 * a per-collection FTS5 keyword index, and ingest bookkeeping. Every mutating call is one transaction; wrap several
 * in `transaction()` to make them one (better-sqlite3 nests them as savepoints). Synchronous, like better-sqlite3.
 *
 * The store is the source of truth: vector indexes are derived from it (see IndexManager).
 */
export class Store {
  readonly db: Database.Database;
  readonly path: string;
  private readonly hnswDefaults: { m: number; efConstruction: number; efSearch: number };

  constructor(path: string, opts: StoreOptions = {}) {
    this.path = resolve(path);
    this.hnswDefaults = { ...DEFAULTS.hnsw, ...Object.fromEntries(Object.entries(opts.hnsw ?? {}).filter(([, v]) => v !== undefined)) };
    if (!opts.readonly) mkdirSync(dirname(this.path), { recursive: true });
    this.db = new Database(this.path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    try {
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
      if (!opts.readonly) this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      this.db.pragma('foreign_keys = ON');
      if (opts.readonly) {
        const v = currentVersion(this.db);
        if (v !== LATEST_VERSION) {
          throw new StoreError(
            v > LATEST_VERSION ? 'SCHEMA_TOO_NEW' : 'INVALID_ARGUMENT',
            `${this.path}: database schema version ${v} does not match this version of Trellis (${LATEST_VERSION})` +
              (v > LATEST_VERSION ? '; upgrade Trellis to open it' : '; open it read-write once to migrate it'),
          );
        }
      } else {
        migrate(this.db, this.path);
      }
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  /**
   * Prepared statements, cached by SQL text: preparing costs more than running a small statement, and the ingest
   * path runs the same few statements per document. Filter SQL varies, so the cache is bounded.
   */
  private readonly statements = new Map<string, Database.Statement>();
  private prepare(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      if (this.statements.size >= 512) this.statements.clear();
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    } else if (st.reader) {
      // pluck()/raw() change a statement in place; a cached one must start from the default row shape.
      st.pluck(false);
      st.raw(false);
    }
    return st;
  }

  get schemaVersion(): number {
    return currentVersion(this.db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Runs `fn` in one transaction (IMMEDIATE at the outermost level, a savepoint when nested). */
  transaction<T>(fn: () => T): T {
    if (this.db.inTransaction) return this.db.transaction(fn)();
    return this.db.transaction(fn).immediate();
  }

  /** `PRAGMA integrity_check`: 'ok' or the problems found. */
  integrityCheck(): string {
    const rows = this.db.pragma('integrity_check') as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join('\n');
  }

  // -------------------------------------------------------------------------------------------------------------
  // Collections

  createCollection(input: CollectionInput): Collection {
    const name = input?.name;
    if (typeof name !== 'string' || !COLLECTION_NAME.test(name)) {
      throw new StoreError(
        'INVALID_ARGUMENT',
        `invalid collection name ${JSON.stringify(name)}: use 1-64 letters, digits, "_" or "-", starting with a letter or digit`,
      );
    }
    const kind = input.kind ?? 'text';
    if (!COLLECTION_KINDS.includes(kind)) throw new StoreError('INVALID_ARGUMENT', `collection ${name}: kind must be one of ${COLLECTION_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
    if (typeof input.model !== 'string' || input.model.length === 0) throw new StoreError('INVALID_ARGUMENT', `collection ${name}: model must be a non-empty string`);
    if (!isPositiveInt(input.dim, 65536)) throw new StoreError('INVALID_ARGUMENT', `collection ${name}: dim must be an integer in [1, 65536], got ${String(input.dim)}`);
    const metric = input.metric ?? 'cosine';
    if (!METRICS.includes(metric)) throw new StoreError('INVALID_ARGUMENT', `collection ${name}: metric must be one of ${METRICS.join(', ')}, got ${JSON.stringify(metric)}`);
    const backend = input.backend ?? 'trellis';
    if (!ALL_BACKENDS.includes(backend)) throw new StoreError('INVALID_ARGUMENT', `collection ${name}: backend must be one of ${ALL_BACKENDS.join(', ')}, got ${JSON.stringify(backend)}`);
    const m = input.m ?? this.hnswDefaults.m;
    const efConstruction = input.efConstruction ?? this.hnswDefaults.efConstruction;
    const efSearch = input.efSearch ?? this.hnswDefaults.efSearch;
    if (!isPositiveInt(m, 1024) || m < 2) throw new StoreError('INVALID_ARGUMENT', `collection ${name}: m must be an integer in [2, 1024], got ${String(m)}`);
    if (!isPositiveInt(efConstruction, 1 << 20)) throw new StoreError('INVALID_ARGUMENT', `collection ${name}: efConstruction must be a positive integer, got ${String(efConstruction)}`);
    if (!isPositiveInt(efSearch, 1 << 20)) throw new StoreError('INVALID_ARGUMENT', `collection ${name}: efSearch must be a positive integer, got ${String(efSearch)}`);
    const metadata = normalizeMetadata(input.metadata, `collection ${name}`);

    return this.transaction(() => {
      if (this.getCollection(name)) throw new StoreError('ALREADY_EXISTS', `collection ${name} already exists`);
      const info = this
        .prepare(
          `INSERT INTO collections (name, kind, model, dim, metric, m, ef_construction, ef_search, backend, metadata, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(name, kind, input.model, input.dim, metric, m, efConstruction, efSearch, backend, JSON.stringify(metadata), now());
      const id = Number(info.lastInsertRowid);
      const fts = ftsTable(id);
      // External-content FTS5 over chunks.text, kept in step by triggers, so that every statement that touches chunks
      // (including ON DELETE CASCADE from documents and collections) updates it in the same transaction.
      this.db.exec(`
        CREATE VIRTUAL TABLE ${fts} USING fts5(text, content='chunks', content_rowid='pk', tokenize='porter unicode61 remove_diacritics 2');
        CREATE TRIGGER ${fts}_ai AFTER INSERT ON chunks WHEN new.collection_id = ${id} BEGIN
          INSERT INTO ${fts}(rowid, text) VALUES (new.pk, new.text);
        END;
        CREATE TRIGGER ${fts}_ad AFTER DELETE ON chunks WHEN old.collection_id = ${id} BEGIN
          INSERT INTO ${fts}(${fts}, rowid, text) VALUES ('delete', old.pk, old.text);
        END;
        CREATE TRIGGER ${fts}_au AFTER UPDATE OF text ON chunks WHEN old.collection_id = ${id} BEGIN
          INSERT INTO ${fts}(${fts}, rowid, text) VALUES ('delete', old.pk, old.text);
          INSERT INTO ${fts}(rowid, text) VALUES (new.pk, new.text);
        END;`);
      return this.requireCollection(name);
    });
  }

  getCollection(name: string): Collection | undefined {
    const row = this.prepare('SELECT * FROM collections WHERE name = ?').get(name) as CollectionRow | undefined;
    return row ? this.toCollection(row) : undefined;
  }

  requireCollection(name: string): Collection {
    const c = this.getCollection(name);
    if (!c) throw new StoreError('NOT_FOUND', `no collection named ${JSON.stringify(name)}`);
    return c;
  }

  listCollections(): Collection[] {
    return (this.prepare('SELECT * FROM collections ORDER BY name').all() as CollectionRow[]).map((r) => this.toCollection(r));
  }

  /** Deletes a collection and everything in it (documents, chunks, keyword index, ingest runs). Index files are the IndexManager's. */
  deleteCollection(name: string): boolean {
    return this.transaction(() => {
      const c = this.getCollection(name);
      if (!c) return false;
      const fts = ftsTable(c.id);
      this.db.exec(`DROP TRIGGER IF EXISTS ${fts}_ai; DROP TRIGGER IF EXISTS ${fts}_ad; DROP TRIGGER IF EXISTS ${fts}_au; DROP TABLE IF EXISTS ${fts};`);
      this.prepare('DELETE FROM collections WHERE id = ?').run(c.id);
      return true;
    });
  }

  /** Updates the default efSearch of a collection (the only HNSW parameter that can change without a rebuild). */
  setEfSearch(name: string, efSearch: number): Collection {
    if (!isPositiveInt(efSearch, 1 << 20)) throw new StoreError('INVALID_ARGUMENT', `efSearch must be a positive integer, got ${String(efSearch)}`);
    const info = this.prepare('UPDATE collections SET ef_search = ? WHERE name = ?').run(efSearch, name);
    if (info.changes === 0) throw new StoreError('NOT_FOUND', `no collection named ${JSON.stringify(name)}`);
    return this.requireCollection(name);
  }

  private toCollection(r: CollectionRow): Collection {
    return {
      id: r.id,
      name: r.name,
      kind: r.kind,
      model: r.model,
      dim: r.dim,
      metric: r.metric,
      m: r.m,
      efConstruction: r.ef_construction,
      efSearch: r.ef_search,
      backend: r.backend,
      nextLabel: r.next_label,
      metadata: JSON.parse(r.metadata) as Metadata,
      createdAt: r.created_at,
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Documents and chunks

  /**
   * Inserts a document or replaces it (and all its chunks) atomically. New chunks get fresh labels; the old chunks'
   * labels are returned in `removed`. Everything is validated before anything is written; on any error nothing changes.
   */
  upsertDocument(collection: string, doc: DocumentInput): UpsertResult {
    if (!doc || typeof doc.id !== 'string' || doc.id.length === 0) throw new StoreError('INVALID_ARGUMENT', 'a document needs a non-empty string id');
    const where = `document ${JSON.stringify(doc.id)}`;
    if (!Array.isArray(doc.chunks)) throw new StoreError('INVALID_ARGUMENT', `${where}: chunks must be an array`);
    const docMeta = normalizeMetadata(doc.metadata, where);
    const mtime = doc.mtime === undefined || doc.mtime === null ? null : doc.mtime;
    if (mtime !== null && (typeof mtime !== 'number' || !Number.isFinite(mtime))) throw new StoreError('INVALID_ARGUMENT', `${where}: mtime must be a number (ms since the epoch)`);

    return this.transaction(() => {
      const c = this.requireCollection(collection);
      const n = doc.chunks.length;
      // Validate and encode every chunk before writing anything.
      const vectors = new Float32Array(n * c.dim);
      const ids = new Set<string>();
      const rows = doc.chunks.map((ch, i) => {
        const w = `${where} chunk ${i}`;
        if (!ch || typeof ch !== 'object') throw new StoreError('INVALID_ARGUMENT', `${w}: not an object`);
        const id = ch.id ?? `${doc.id}#${i}`;
        if (typeof id !== 'string' || id.length === 0) throw new StoreError('INVALID_ARGUMENT', `${w}: id must be a non-empty string`);
        if (ids.has(id)) throw new StoreError('INVALID_ARGUMENT', `${w}: duplicate chunk id ${JSON.stringify(id)}`);
        ids.add(id);
        const kind = ch.kind ?? c.kind;
        if (!COLLECTION_KINDS.includes(kind)) throw new StoreError('INVALID_ARGUMENT', `${w}: kind must be text or image`);
        const text = ch.text ?? '';
        if (typeof text !== 'string') throw new StoreError('INVALID_ARGUMENT', `${w}: text must be a string`);
        const blob = vectorToBlob(ch.vector, c.dim, w);
        vectors.set(new Float32Array(blob.buffer, blob.byteOffset, c.dim), i * c.dim);
        const page = optionalInt(ch.page, 'page', w);
        const meta: Metadata = { ...docMeta, ...normalizeMetadata(ch.metadata, w) };
        if (page !== null) meta.page = page;
        return {
          id,
          kind,
          text,
          source: ch.source ?? (kind === 'image' ? (doc.source ?? null) : null),
          start: optionalInt(ch.start, 'start', w),
          end: optionalInt(ch.end, 'end', w),
          page,
          meta: JSON.stringify(meta),
          blob,
        };
      });
      const first = c.nextLabel;
      if (first + n - 1 > MAX_LABEL) throw new StoreError('LABELS_EXHAUSTED', `collection ${c.name}: no labels left (labels are never reused; rebuild the collection)`);

      const existing = this.prepare('SELECT pk, created_at FROM documents WHERE collection_id = ? AND id = ?').get(c.id, doc.id) as
        | { pk: number; created_at: string }
        | undefined;
      const t = now();
      let pk: number;
      let removed = new Uint32Array(0);
      if (existing) {
        pk = existing.pk;
        const old = this.prepare('SELECT label FROM chunks WHERE document_pk = ? ORDER BY ordinal').pluck().all(pk) as number[];
        removed = Uint32Array.from(old);
        this.prepare('DELETE FROM chunks WHERE document_pk = ?').run(pk);
        this
          .prepare('UPDATE documents SET source = ?, content_hash = ?, mtime = ?, metadata = ?, updated_at = ? WHERE pk = ?')
          .run(doc.source ?? null, doc.contentHash ?? null, mtime, JSON.stringify(docMeta), t, pk);
      } else {
        const info = this
          .prepare(
            'INSERT INTO documents (collection_id, id, source, content_hash, mtime, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          )
          .run(c.id, doc.id, doc.source ?? null, doc.contentHash ?? null, mtime, JSON.stringify(docMeta), t, t);
        pk = Number(info.lastInsertRowid);
      }
      const ins = this.prepare(
        `INSERT INTO chunks (collection_id, document_pk, id, ordinal, kind, text, source, start_offset, end_offset, page, label, metadata, vector, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const added = new Uint32Array(n);
      rows.forEach((r, i) => {
        added[i] = first + i;
        try {
          ins.run(c.id, pk, r.id, i, r.kind, r.text, r.source, r.start, r.end, r.page, first + i, r.meta, r.blob, t);
        } catch (err) {
          if (isUniqueViolation(err)) {
            throw new StoreError('ALREADY_EXISTS', `${where}: chunk id ${JSON.stringify(r.id)} is already used by another document of collection ${c.name}`);
          }
          throw err;
        }
      });
      if (n > 0) this.prepare('UPDATE collections SET next_label = ? WHERE id = ?').run(first + n, c.id);
      return { document: this.getDocument(collection, doc.id)!, added, vectors, removed, created: !existing };
    });
  }

  /** Deletes documents (and their chunks) by id; unknown ids are ignored. */
  deleteDocuments(collection: string, ids: readonly string[]): DeleteResult {
    return this.transaction(() => {
      const c = this.requireCollection(collection);
      const labelsOf = this.prepare('SELECT c.label FROM chunks c JOIN documents d ON d.pk = c.document_pk WHERE d.collection_id = ? AND d.id = ?').pluck();
      const del = this.prepare('DELETE FROM documents WHERE collection_id = ? AND id = ?');
      const labels: number[] = [];
      const deleted: string[] = [];
      for (const id of new Set(ids)) {
        const ls = labelsOf.all(c.id, id) as number[];
        if (del.run(c.id, id).changes > 0) {
          deleted.push(id);
          labels.push(...ls);
        }
      }
      return { documents: deleted, removed: Uint32Array.from(labels) };
    });
  }

  /** Deletes the documents whose (document-level) metadata matches `filter`. `{}` deletes every document. */
  deleteDocumentsWhere(collection: string, filter: unknown): DeleteResult {
    const f = parseFilter(filter);
    return this.transaction(() => {
      const c = this.requireCollection(collection);
      const w = f.toSql('d.metadata');
      const ids = this.prepare(`SELECT d.id FROM documents d WHERE d.collection_id = ? AND ${w.sql}`).pluck().all(c.id, ...w.params) as string[];
      return this.deleteDocuments(collection, ids);
    });
  }

  getDocument(collection: string, id: string): DocumentRecord | undefined {
    const row = this
      .prepare('SELECT d.* FROM documents d JOIN collections k ON k.id = d.collection_id WHERE k.name = ? AND d.id = ?')
      .get(collection, id) as DocumentRow | undefined;
    return row ? toDocument(collection, row) : undefined;
  }

  /** The document that holds the chunk with this label. */
  getDocumentByLabel(collection: string, label: number): DocumentRecord | undefined {
    const row = this
      .prepare(
        'SELECT d.* FROM chunks c JOIN documents d ON d.pk = c.document_pk JOIN collections k ON k.id = c.collection_id WHERE k.name = ? AND c.label = ?',
      )
      .get(collection, label) as DocumentRow | undefined;
    return row ? toDocument(collection, row) : undefined;
  }

  /** Documents ordered by id, a page at a time (`after`: the last id of the previous page). */
  listDocuments(collection: string, opts: { limit?: number; after?: string } = {}): DocumentRecord[] {
    const c = this.requireCollection(collection);
    const rows = this
      .prepare('SELECT * FROM documents WHERE collection_id = ? AND id > ? ORDER BY id LIMIT ?')
      .all(c.id, opts.after ?? '', opts.limit ?? 100) as DocumentRow[];
    return rows.map((r) => toDocument(collection, r));
  }

  /** The most recently updated document with this source URI (incremental ingest: has this file been seen?). */
  findDocumentBySource(collection: string, source: string): DocumentRecord | undefined {
    const c = this.requireCollection(collection);
    const row = this
      .prepare('SELECT * FROM documents WHERE collection_id = ? AND source = ? ORDER BY updated_at DESC, pk DESC LIMIT 1')
      .get(c.id, source) as DocumentRow | undefined;
    return row ? toDocument(collection, row) : undefined;
  }

  /** Documents with this content hash (dedupe: is this content already stored, under any source?). */
  findDocumentsByHash(collection: string, contentHash: string): DocumentRecord[] {
    const c = this.requireCollection(collection);
    const rows = this.prepare('SELECT * FROM documents WHERE collection_id = ? AND content_hash = ? ORDER BY pk').all(c.id, contentHash) as DocumentRow[];
    return rows.map((r) => toDocument(collection, r));
  }

  /** The document with this source URI and content hash, if stored (an unchanged file: skip it). */
  findDocument(collection: string, source: string, contentHash: string): DocumentRecord | undefined {
    const c = this.requireCollection(collection);
    const row = this
      .prepare('SELECT * FROM documents WHERE collection_id = ? AND source = ? AND content_hash = ? LIMIT 1')
      .get(c.id, source, contentHash) as DocumentRow | undefined;
    return row ? toDocument(collection, row) : undefined;
  }

  /** Sources of every document (for `--prune`: what is stored but gone from disk). */
  listSources(collection: string): { id: string; source: string }[] {
    const c = this.requireCollection(collection);
    return this.prepare('SELECT id, source FROM documents WHERE collection_id = ? AND source IS NOT NULL ORDER BY source').all(c.id) as {
      id: string;
      source: string;
    }[];
  }

  getChunk(collection: string, id: string, opts: { withVector?: boolean } = {}): ChunkRecord | undefined {
    const c = this.requireCollection(collection);
    const row = this
      .prepare(`SELECT ${CHUNK_COLS}${opts.withVector ? ', c.vector' : ''} FROM chunks c JOIN documents d ON d.pk = c.document_pk WHERE c.collection_id = ? AND c.id = ?`)
      .get(c.id, id) as ChunkRow | undefined;
    return row ? toChunk(c, row) : undefined;
  }

  getChunkByLabel(collection: string, label: number, opts: { withVector?: boolean } = {}): ChunkRecord | undefined {
    return this.getChunksByLabels(collection, [label], opts)[0];
  }

  /** Chunks for labels, aligned with `labels` (undefined where a label is not in the store). For mapping search hits. */
  getChunksByLabels(collection: string, labels: ArrayLike<number>, opts: { withVector?: boolean } = {}): (ChunkRecord | undefined)[] {
    const c = this.requireCollection(collection);
    const stmt = this.prepare(
      `SELECT ${CHUNK_COLS}${opts.withVector ? ', c.vector' : ''} FROM chunks c JOIN documents d ON d.pk = c.document_pk WHERE c.collection_id = ? AND c.label = ?`,
    );
    const out: (ChunkRecord | undefined)[] = [];
    for (let i = 0; i < labels.length; i++) {
      const row = stmt.get(c.id, labels[i]) as ChunkRow | undefined;
      out.push(row ? toChunk(c, row) : undefined);
    }
    return out;
  }

  /** A document's chunks in order. */
  listChunks(collection: string, documentId: string, opts: { withVector?: boolean } = {}): ChunkRecord[] {
    const c = this.requireCollection(collection);
    const rows = this
      .prepare(
        `SELECT ${CHUNK_COLS}${opts.withVector ? ', c.vector' : ''} FROM chunks c JOIN documents d ON d.pk = c.document_pk WHERE d.collection_id = ? AND d.id = ? ORDER BY c.ordinal`,
      )
      .all(c.id, documentId) as ChunkRow[];
    return rows.map((r) => toChunk(c, r));
  }

  // -------------------------------------------------------------------------------------------------------------
  // Vectors and labels (index rebuilds)

  /**
   * Every stored label with its vector, ascending by label, `batchSize` at a time. Pages by label (keyset), so memory
   * stays at one batch and the connection is free between batches.
   */
  *iterateVectors(collection: string, opts: { batchSize?: number } = {}): Generator<VectorBatch> {
    const c = this.requireCollection(collection);
    const size = Math.max(1, opts.batchSize ?? 1024);
    const stmt = this.prepare('SELECT label, vector FROM chunks WHERE collection_id = ? AND label > ? ORDER BY label LIMIT ?');
    let after = -1;
    for (;;) {
      const rows = stmt.all(c.id, after, size) as { label: number; vector: Buffer }[];
      if (rows.length === 0) return;
      const labels = new Uint32Array(rows.length);
      const vectors = new Float32Array(rows.length * c.dim);
      rows.forEach((r, i) => {
        labels[i] = r.label;
        copyBlob(r.vector, vectors, i, c.dim, `collection ${c.name} label ${r.label}`);
      });
      yield { labels, vectors };
      after = rows[rows.length - 1].label;
      if (rows.length < size) return;
    }
  }

  /** Every stored label, ascending, a batch at a time. */
  *iterateLabels(collection: string, opts: { batchSize?: number } = {}): Generator<Uint32Array> {
    const c = this.requireCollection(collection);
    const size = Math.max(1, opts.batchSize ?? 8192);
    const stmt = this.prepare('SELECT label FROM chunks WHERE collection_id = ? AND label > ? ORDER BY label LIMIT ?').pluck();
    let after = -1;
    for (;;) {
      const labels = stmt.all(c.id, after, size) as number[];
      if (labels.length === 0) return;
      yield Uint32Array.from(labels);
      after = labels[labels.length - 1];
      if (labels.length < size) return;
    }
  }

  /** The vectors of the given labels that are in the store (labels not stored are left out). */
  vectorsForLabels(collection: string, labels: ArrayLike<number>): VectorBatch {
    const c = this.requireCollection(collection);
    const stmt = this.prepare('SELECT vector FROM chunks WHERE collection_id = ? AND label = ?').pluck();
    const found: number[] = [];
    const blobs: Buffer[] = [];
    for (let i = 0; i < labels.length; i++) {
      const b = stmt.get(c.id, labels[i]) as Buffer | undefined;
      if (b) {
        found.push(labels[i]);
        blobs.push(b);
      }
    }
    const vectors = new Float32Array(found.length * c.dim);
    blobs.forEach((b, i) => copyBlob(b, vectors, i, c.dim, `collection ${c.name} label ${found[i]}`));
    return { labels: Uint32Array.from(found), vectors };
  }

  counts(collection: string): StoreCounts {
    const c = this.requireCollection(collection);
    const documents = this.prepare('SELECT COUNT(*) FROM documents WHERE collection_id = ?').pluck().get(c.id) as number;
    const chunks = this.prepare('SELECT COUNT(*) FROM chunks WHERE collection_id = ?').pluck().get(c.id) as number;
    // Every chunk carries its vector (the column is NOT NULL), so the two counts agree by construction.
    return { documents, chunks, vectors: chunks };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Filters and keyword search

  /** The labels of the chunks whose metadata matches `filter`: the allow-set for the engine's filtered search. */
  allowSet(collection: string, filter: unknown): LabelSet {
    const c = this.requireCollection(collection);
    const f = parseFilter(filter);
    const w = f.toSql('c.metadata');
    const set = new LabelSet(Math.max(32, c.nextLabel));
    const stmt = this.prepare(`SELECT c.label FROM chunks c WHERE c.collection_id = ? AND ${w.sql}`).pluck();
    for (const l of stmt.iterate(c.id, ...w.params) as IterableIterator<number>) set.add(l);
    return set;
  }

  /** Ids of the chunks whose metadata matches `filter`, in label order. */
  matchingChunkIds(collection: string, filter: unknown): string[] {
    const c = this.requireCollection(collection);
    const w = parseFilter(filter).toSql('c.metadata');
    return this.prepare(`SELECT c.id FROM chunks c WHERE c.collection_id = ? AND ${w.sql} ORDER BY c.label`).pluck().all(c.id, ...w.params) as string[];
  }

  /**
   * BM25-ranked keyword search over chunk text (FTS5, porter stemming, diacritics folded). Any user text is safe: it is
   * cut into words and each is quoted (see fts.ts). `filter` applies to chunk metadata.
   */
  keywordSearch(collection: string, query: string, k: number, opts: KeywordSearchOptions = {}): KeywordHit[] {
    const c = this.requireCollection(collection);
    if (!Number.isInteger(k) || k < 0) throw new StoreError('INVALID_ARGUMENT', `k must be a non-negative integer, got ${String(k)}`);
    if (typeof query !== 'string') throw new StoreError('INVALID_ARGUMENT', 'query must be a string');
    const f = parseFilter(opts.filter);
    const match = toFtsQuery(query, opts.match);
    if (!match || k === 0) return [];
    const fts = ftsTable(c.id);
    const w = f.matchesAll ? { sql: '1', params: [] } : f.toSql('c.metadata');
    const rows = this
      .prepare(
        `SELECT c.id AS chunk_id, d.id AS document_id, c.label, bm25(${fts}) AS rank
         FROM ${fts} JOIN chunks c ON c.pk = ${fts}.rowid JOIN documents d ON d.pk = c.document_pk
         WHERE ${fts} MATCH ? AND ${w.sql}
         ORDER BY rank LIMIT ?`,
      )
      .all(match, ...w.params, k) as { chunk_id: string; document_id: string; label: number; rank: number }[];
    return rows.map((r) => ({ chunkId: r.chunk_id, documentId: r.document_id, label: r.label, score: -r.rank }));
  }

  // -------------------------------------------------------------------------------------------------------------
  // Ingest runs and per-file progress

  startIngestRun(collection: string, options: Record<string, unknown> = {}): IngestRun {
    const c = this.requireCollection(collection);
    const info = this
      .prepare(`INSERT INTO ingest_runs (collection_id, started_at, status, options) VALUES (?, ?, 'running', ?)`)
      .run(c.id, now(), JSON.stringify(options));
    return this.getIngestRun(Number(info.lastInsertRowid))!;
  }

  getIngestRun(id: number): IngestRun | undefined {
    const row = this
      .prepare('SELECT r.*, k.name AS collection FROM ingest_runs r JOIN collections k ON k.id = r.collection_id WHERE r.id = ?')
      .get(id) as IngestRunRow | undefined;
    return row ? toRun(row) : undefined;
  }

  /** Runs of a collection, newest first; `status: 'running'` finds runs that were killed (or are in progress elsewhere). */
  listIngestRuns(collection: string, opts: { status?: IngestRunStatus; limit?: number } = {}): IngestRun[] {
    const c = this.requireCollection(collection);
    const rows = this
      .prepare(
        `SELECT r.*, k.name AS collection FROM ingest_runs r JOIN collections k ON k.id = r.collection_id
         WHERE r.collection_id = ? AND (? IS NULL OR r.status = ?) ORDER BY r.id DESC LIMIT ?`,
      )
      .all(c.id, opts.status ?? null, opts.status ?? null, opts.limit ?? 100) as IngestRunRow[];
    return rows.map(toRun);
  }

  /** Replaces the run's counters (and status, if given). */
  updateIngestRun(id: number, update: { counters?: Record<string, number>; status?: IngestRunStatus }): IngestRun {
    const run = this.getIngestRun(id);
    if (!run) throw new StoreError('NOT_FOUND', `no ingest run ${id}`);
    const status = update.status ?? run.status;
    const finished = status === 'running' ? null : (run.finishedAt ?? now());
    this
      .prepare('UPDATE ingest_runs SET counters = ?, status = ?, finished_at = ? WHERE id = ?')
      .run(JSON.stringify(update.counters ?? run.counters), status, finished, id);
    return this.getIngestRun(id)!;
  }

  finishIngestRun(id: number, status: Exclude<IngestRunStatus, 'running'>, counters?: Record<string, number>): IngestRun {
    return this.updateIngestRun(id, { status, counters });
  }

  /** Registers files to process in a run (state `pending`); files already registered keep their state. */
  addIngestFiles(runId: number, files: readonly { path: string; contentHash?: string }[]): void {
    const ins = this.prepare(`INSERT OR IGNORE INTO ingest_files (run_id, path, content_hash, state, updated_at) VALUES (?, ?, ?, 'pending', ?)`);
    this.transaction(() => {
      const t = now();
      for (const f of files) ins.run(runId, f.path, f.contentHash ?? null, t);
    });
  }

  /**
   * Records a file's outcome. Call it inside the same `transaction()` as the document upsert so that "file done" and
   * its chunks commit together: after a crash a file is either done with all its chunks or pending with none.
   */
  setIngestFileState(
    runId: number,
    path: string,
    state: IngestFileState,
    extra: { error?: string; contentHash?: string; documentId?: string; chunks?: number } = {},
  ): void {
    this
      .prepare(
        `INSERT INTO ingest_files (run_id, path, content_hash, state, error, document_id, chunks, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id, path) DO UPDATE SET state = excluded.state, error = excluded.error,
           content_hash = COALESCE(excluded.content_hash, content_hash), document_id = COALESCE(excluded.document_id, document_id),
           chunks = COALESCE(excluded.chunks, chunks), updated_at = excluded.updated_at`,
      )
      .run(runId, path, extra.contentHash ?? null, state, extra.error ?? null, extra.documentId ?? null, extra.chunks ?? null, now());
  }

  listIngestFiles(runId: number, opts: { state?: IngestFileState } = {}): IngestFile[] {
    const rows = this
      .prepare('SELECT * FROM ingest_files WHERE run_id = ? AND (? IS NULL OR state = ?) ORDER BY path')
      .all(runId, opts.state ?? null, opts.state ?? null) as IngestFileRow[];
    return rows.map((r) => ({
      runId: r.run_id,
      path: r.path,
      contentHash: r.content_hash,
      state: r.state,
      error: r.error,
      documentId: r.document_id,
      chunks: r.chunks,
      updatedAt: r.updated_at,
    }));
  }

  ingestFileCounts(runId: number): Record<IngestFileState, number> {
    const out: Record<IngestFileState, number> = { pending: 0, done: 0, skipped: 0, failed: 0 };
    const rows = this.prepare('SELECT state, COUNT(*) AS n FROM ingest_files WHERE run_id = ? GROUP BY state').all(runId) as {
      state: IngestFileState;
      n: number;
    }[];
    for (const r of rows) out[r.state] = r.n;
    return out;
  }
}

function toDocument(collection: string, r: DocumentRow): DocumentRecord {
  return {
    collection,
    id: r.id,
    source: r.source,
    contentHash: r.content_hash,
    mtime: r.mtime,
    metadata: JSON.parse(r.metadata) as Metadata,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toChunk(c: Collection, r: ChunkRow): ChunkRecord {
  const out: ChunkRecord = {
    collection: c.name,
    id: r.id,
    documentId: r.document_id,
    ordinal: r.ordinal,
    kind: r.kind,
    text: r.text,
    source: r.source,
    start: r.start_offset,
    end: r.end_offset,
    page: r.page,
    label: r.label,
    metadata: JSON.parse(r.metadata) as Metadata,
  };
  if (r.vector) out.vector = blobToVector(r.vector, c.dim, `chunk ${r.id}`);
  return out;
}

function toRun(r: IngestRunRow): IngestRun {
  return {
    id: r.id,
    collection: r.collection,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    status: r.status,
    options: JSON.parse(r.options) as Record<string, unknown>,
    counters: JSON.parse(r.counters) as Record<string, number>,
  };
}


