import { EngineError } from '../engine/errors.ts';
import type {
  BackendName,
  IndexOptions,
  IndexSearchOptions,
  IndexSearchResult,
  IndexStats,
  LocalIndex,
  VectorIndex,
} from './types.ts';
import { ALL_BACKENDS, BACKENDS } from './types.ts';
import type { PineconeIndexOptions } from './pinecone.ts';

export * from './types.ts';
export { EngineError } from '../engine/errors.ts';
export { exactKnn } from './exact.ts';
export { ByteMask, FlatIndex } from './flat.ts';
export type { PineconeIndexOptions, PineconeSearchOptions } from './pinecone.ts';

/** The async `VectorIndex` face of a local (in-process, synchronous) backend. */
export class LocalVectorIndex implements VectorIndex {
  constructor(readonly local: LocalIndex) {}
  get backend(): BackendName {
    return this.local.backend;
  }
  get dim(): number {
    return this.local.dim;
  }
  get metric() {
    return this.local.metric;
  }
  get size(): number {
    return this.local.size;
  }
  get persistent(): boolean {
    return this.local.persistent;
  }
  async add(labels: ArrayLike<number>, vectors: ArrayLike<number>): Promise<void> {
    this.local.addBatch(labels, vectors);
  }
  async search(query: ArrayLike<number>, k: number, opts?: IndexSearchOptions): Promise<IndexSearchResult> {
    return this.local.search(query, k, opts);
  }
  async delete(labels: ArrayLike<number>): Promise<void> {
    this.local.delete(labels);
  }
  async has(label: number): Promise<boolean> {
    return this.local.has(label);
  }
  async stats(): Promise<IndexStats> {
    return this.local.stats();
  }
  async save(path: string): Promise<void> {
    this.local.save(path);
  }
}

/** True for the local backends (`BACKENDS`); see `isAnyBackendName` for remote ones too. */
export function isBackendName(name: string): name is BackendName {
  return (BACKENDS as readonly string[]).includes(name);
}

/** True for every backend `createIndex` knows, `pinecone` included. */
export function isAnyBackendName(name: string): name is BackendName {
  return (ALL_BACKENDS as readonly string[]).includes(name);
}

function unknownBackend(name: string): never {
  throw new EngineError('INVALID_ARGUMENT', `unknown index backend ${JSON.stringify(name)} (expected one of ${ALL_BACKENDS.join(', ')})`);
}

function remoteBackend(name: string, what: string): never {
  throw new EngineError(
    'INVALID_ARGUMENT',
    `the ${name} backend is remote: ${what}; open it with createIndex('${name}', { dim, metric, indexHost, namespace, ... })`,
  );
}

/**
 * Creates the synchronous local index for a backend. Backends are imported on demand, so the native hnswlib addon
 * and the engine's WebAssembly load only when used.
 */
export async function createLocalIndex(backend: BackendName, opts: IndexOptions): Promise<LocalIndex> {
  switch (backend) {
    case 'flat': {
      const { FlatIndex } = await import('./flat.ts');
      return new FlatIndex(opts);
    }
    case 'hnswlib': {
      const { HnswlibIndex } = await import('./hnswlib.ts');
      return new HnswlibIndex(opts);
    }
    case 'trellis': {
      const { TrellisIndex } = await import('./trellis.ts');
      return new TrellisIndex(opts);
    }
    case 'pinecone':
      return remoteBackend(backend, 'it has no local, synchronous index');
    default:
      return unknownBackend(backend);
  }
}

/**
 * Creates a `VectorIndex` for a backend: `trellis` (the engine), `hnswlib` (hnswlib-node), `flat` (exact), or
 * `pinecone` (remote; `opts` must then be `PineconeIndexOptions`: `indexHost`, `namespace`, API key; see docs/pinecone.md).
 */
export async function createIndex(backend: BackendName, opts: IndexOptions | PineconeIndexOptions): Promise<VectorIndex> {
  if (backend === 'pinecone') {
    const { PineconeIndex } = await import('./pinecone.ts');
    return PineconeIndex.open(opts as PineconeIndexOptions);
  }
  return new LocalVectorIndex(await createLocalIndex(backend, opts));
}

/** Loads what `save` wrote, for the backends that persist (`trellis`, `hnswlib`). */
export async function loadLocalIndex(backend: BackendName, path: string): Promise<LocalIndex> {
  switch (backend) {
    case 'trellis': {
      const { TrellisIndex } = await import('./trellis.ts');
      return TrellisIndex.load(path);
    }
    case 'hnswlib': {
      const { HnswlibIndex } = await import('./hnswlib.ts');
      return HnswlibIndex.load(path);
    }
    case 'flat':
      throw new EngineError('INVALID_ARGUMENT', 'the flat backend keeps no file; it cannot be loaded');
    case 'pinecone':
      return remoteBackend(backend, 'it keeps no file (its data is durable in Pinecone), so there is nothing to load');
    default:
      return unknownBackend(backend);
  }
}

export async function loadIndex(backend: BackendName, path: string): Promise<VectorIndex> {
  return new LocalVectorIndex(await loadLocalIndex(backend, path));
}
