import type { EngineStats, KernelChoice, LabelSetLike, Metric } from '../engine/types.ts';

export type { LabelSetLike, Metric } from '../engine/types.ts';

/** The backends behind the `VectorIndex` contract: three local (in-process) ones and `pinecone` (remote, src/index/pinecone.ts). */
export type BackendName = 'trellis' | 'hnswlib' | 'flat' | 'pinecone';
/**
 * The local backends only: what the shared contract test and the ANN benchmark loop over, and what
 * `createLocalIndex` accepts. Remote backends are listed in `REMOTE_BACKENDS`; `ALL_BACKENDS` has both.
 */
export const BACKENDS: readonly BackendName[] = ['trellis', 'hnswlib', 'flat'];
/** Backends whose data lives in a remote service (no local file, no synchronous face). */
export const REMOTE_BACKENDS: readonly BackendName[] = ['pinecone'];
/** Every backend `createIndex` knows. */
export const ALL_BACKENDS: readonly BackendName[] = [...BACKENDS, ...REMOTE_BACKENDS];

export interface IndexOptions {
  dim: number;
  metric: Metric;
  /** HNSW links per node (ignored by `flat`). Default 16. */
  m?: number;
  /** HNSW beam width while inserting (ignored by `flat`). Default 200. */
  efConstruction?: number;
  /** Default HNSW beam width while searching (ignored by `flat`). Default 64. */
  efSearch?: number;
  /** Seed for level sampling. Default 42. */
  seed?: number;
  /** Initial capacity in labels; every backend grows beyond it. */
  capacity?: number;
  /** Distance kernels of the Trellis engine (ignored by the others). */
  kernels?: KernelChoice;
}

export interface IndexSearchOptions {
  /** Beam width for this query (HNSW backends); at least k is used. */
  efSearch?: number;
  /** Only labels in this allow-set may be returned. Anything with `has(label)` and `size` works, a `Set<number>` included. */
  filter?: LabelSetLike;
}

/** Nearest first. Distances follow hnswlib: l2 = squared L2, ip = 1 - dot, cosine = 1 - cos. */
export interface IndexSearchResult {
  labels: Uint32Array;
  distances: Float32Array;
}

export interface IndexStats {
  backend: BackendName;
  dim: number;
  metric: Metric;
  /** Live (searchable) vectors. */
  count: number;
  /** Bytes the index holds. */
  bytes: number;
  /** How `bytes` was obtained: counted from the engine's own arrays, or the size of the serialised index file. */
  bytesMethod: 'engine-stats' | 'serialized-file-size' | 'array-sizes';
  /** HNSW parameters, where the backend has them. */
  params?: { m: number; efConstruction: number; efSearch: number; seed: number };
  /** The Trellis engine's full statistics (trellis backend only). */
  engine?: EngineStats;
}

/**
 * The contract every backend meets. Async because remote backends (Pinecone) come later.
 * Errors on bad input are `EngineError`s (from src/engine/errors.ts) with the same `code` on every backend,
 * and a call that throws leaves the index unchanged.
 */
export interface VectorIndex {
  readonly backend: BackendName;
  readonly dim: number;
  readonly metric: Metric;
  /** Live vectors. */
  readonly size: number;
  /** Whether `save` works for this backend (`loadIndex` reads what it writes). */
  readonly persistent: boolean;
  /** Adds vectors under new labels. `vectors` is row-major `labels.length * dim`. Duplicate labels are refused. */
  add(labels: ArrayLike<number>, vectors: ArrayLike<number>): Promise<void>;
  search(query: ArrayLike<number>, k: number, opts?: IndexSearchOptions): Promise<IndexSearchResult>;
  /** Deletes labels; unknown labels are refused before anything is deleted. */
  delete(labels: ArrayLike<number>): Promise<void>;
  has(label: number): Promise<boolean>;
  stats(): Promise<IndexStats>;
  save(path: string): Promise<void>;
}

/**
 * The synchronous, in-process face of the local backends, used by the ANN benchmark so that QPS timing
 * carries no promise overhead. `Q` and `F` are the backend's native query and filter types: the benchmark
 * converts queries and allow-sets once with `prepareQuery` / `prepareFilter`, then times `searchPrepared`.
 */
export interface LocalIndex<Q = unknown, F = unknown> {
  readonly backend: BackendName;
  readonly dim: number;
  readonly metric: Metric;
  readonly size: number;
  readonly persistent: boolean;
  /** True when search is exact (the `flat` backend); efSearch is ignored then. */
  readonly exact: boolean;
  addBatch(labels: ArrayLike<number>, vectors: ArrayLike<number>, onProgress?: (done: number, total: number) => void): void;
  search(query: ArrayLike<number>, k: number, opts?: IndexSearchOptions): IndexSearchResult;
  delete(labels: ArrayLike<number>): void;
  has(label: number): boolean;
  stats(): IndexStats;
  save(path: string): void;
  /** The default efSearch used when a search names none. */
  efSearch: number;
  prepareQuery(query: Float32Array): Q;
  prepareFilter(allowed: Iterable<number>): F;
  /** Labels of the k nearest (nearest first), in whatever array type the backend returns natively. Uses the current `efSearch`. */
  searchPrepared(query: Q, k: number, filter?: F): ArrayLike<number>;
}
