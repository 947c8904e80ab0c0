import { HnswIndex, LabelSet } from '../engine/index.ts';
import type { Metric } from '../engine/types.ts';
import type { IndexOptions, IndexSearchOptions, IndexSearchResult, IndexStats, LabelSetLike, LocalIndex } from './types.ts';
import { checkBatch, checkDelete, checkOptions, checkSearch } from './validate.ts';

/**
 * The Trellis HNSW engine (src/engine) behind the contract. The engine does the work; this adapter runs the shared
 * input checks first (so a bad batch is refused whole, with the same codes as the other backends) and maps names.
 * Native query type: Float32Array; native filter: the engine's `LabelSet` bitset.
 */
export class TrellisIndex implements LocalIndex<Float32Array, LabelSet> {
  readonly backend = 'trellis' as const;
  readonly persistent = true;
  readonly exact = false;
  readonly engine: HnswIndex;

  constructor(opts: IndexOptions | { engine: HnswIndex }) {
    if ('engine' in opts) {
      this.engine = opts.engine;
    } else {
      checkOptions(opts);
      this.engine = new HnswIndex({
        dim: opts.dim,
        metric: opts.metric,
        m: opts.m,
        efConstruction: opts.efConstruction,
        efSearch: opts.efSearch,
        seed: opts.seed,
        capacity: opts.capacity,
        kernels: opts.kernels,
      });
    }
  }

  get dim(): number {
    return this.engine.dim;
  }

  get metric(): Metric {
    return this.engine.metric;
  }

  get size(): number {
    return this.engine.size;
  }

  get efSearch(): number {
    return this.engine.efSearch;
  }

  set efSearch(ef: number) {
    this.engine.efSearch = ef;
  }

  has(label: number): boolean {
    return this.engine.has(label);
  }

  addBatch(labels: ArrayLike<number>, vectors: ArrayLike<number>, onProgress?: (done: number, total: number) => void): void {
    checkBatch(labels, vectors, this.dim, this.metric, (l) => this.engine.has(l));
    const v = vectors instanceof Float32Array ? vectors : Float32Array.from(vectors);
    this.engine.addBatch(labels, v, onProgress);
  }

  delete(labels: ArrayLike<number>): void {
    checkDelete(labels, (l) => this.engine.has(l));
    for (let i = 0; i < labels.length; i++) this.engine.delete(labels[i]);
  }

  search(query: ArrayLike<number>, k: number, opts: IndexSearchOptions = {}): IndexSearchResult {
    checkSearch(query, k, this.dim, this.metric, opts.efSearch);
    return this.engine.search(query, k, { efSearch: opts.efSearch, filter: opts.filter });
  }

  stats(): IndexStats {
    const s = this.engine.stats();
    return {
      backend: 'trellis',
      dim: s.dim,
      metric: s.metric,
      count: s.count,
      bytes: s.bytes.total,
      bytesMethod: 'engine-stats',
      params: { m: s.params.m, efConstruction: s.params.efConstruction, efSearch: s.params.efSearch, seed: s.params.seed },
      engine: s,
    };
  }

  save(path: string): void {
    this.engine.save(path);
  }

  static load(path: string): TrellisIndex {
    return new TrellisIndex({ engine: HnswIndex.load(path) });
  }

  prepareQuery(query: Float32Array): Float32Array {
    return query;
  }

  prepareFilter(allowed: Iterable<number>): LabelSet {
    return LabelSet.from(allowed);
  }

  searchPrepared(query: Float32Array, k: number, filter?: LabelSetLike): ArrayLike<number> {
    return this.engine.search(query, k, filter ? { filter } : undefined).labels;
  }
}
