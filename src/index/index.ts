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
import { BACKENDS } from './types.ts';

export * from './types.ts';
export { EngineError } from '../engine/errors.ts';
export { exactKnn } from './exact.ts';
export { ByteMask, FlatIndex } from './flat.ts';

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

export function isBackendName(name: string): name is BackendName {
  return (BACKENDS as readonly string[]).includes(name);
}

function unknownBackend(name: string): never {
  throw new EngineError('INVALID_ARGUMENT', `unknown index backend ${JSON.stringify(name)} (expected one of ${BACKENDS.join(', ')})`);
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
    default:
      return unknownBackend(backend);
  }
}

/** Creates a `VectorIndex` for a backend: `trellis` (the engine), `hnswlib` (hnswlib-node) or `flat` (exact). */
export async function createIndex(backend: BackendName, opts: IndexOptions): Promise<VectorIndex> {
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
    default:
      return unknownBackend(backend);
  }
}

export async function loadIndex(backend: BackendName, path: string): Promise<VectorIndex> {
  return new LocalVectorIndex(await loadLocalIndex(backend, path));
}
