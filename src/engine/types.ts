/** Distance metrics. Distances returned by the engine follow hnswlib's conventions so backends agree:
 * `l2` -> squared Euclidean distance, `ip` -> 1 - dot(a, b), `cosine` -> 1 - cos(a, b) (vectors normalised at insert). */
export type Metric = 'cosine' | 'l2' | 'ip';
export const METRICS: readonly Metric[] = ['cosine', 'l2', 'ip'];

/** Which distance kernels run: WebAssembly SIMD, the pure TypeScript fallback, or `auto` (SIMD when the runtime has it). */
export type KernelChoice = 'auto' | 'wasm' | 'js';

export interface HnswOptions {
  dim: number;
  metric: Metric;
  /** Links per node on the upper layers; layer 0 keeps up to 2*m. Default 16. */
  m?: number;
  /** Beam width while inserting. Default 200. */
  efConstruction?: number;
  /** Default beam width while searching (overridable per query). Default 64. */
  efSearch?: number;
  /** Seed for level sampling, so that builds are reproducible. Default 42. */
  seed?: number;
  /** Initial capacity in labels; storage grows geometrically beyond it. */
  capacity?: number;
  kernels?: KernelChoice;
}

export interface HnswParams {
  dim: number;
  metric: Metric;
  m: number;
  efConstruction: number;
  efSearch: number;
  seed: number;
}

export interface SearchOptions {
  /** Beam width for this query; at least k is used. */
  efSearch?: number;
  /** Only labels in this set may be returned. */
  filter?: LabelSetLike;
  /**
   * How a filtered query runs. `auto` (default) picks an exact scan of the allowed set or a filtered graph
   * search by a cost model (two-hop for restrictive filters), and abandons a graph search for the scan once
   * it has scored as many vectors as the filter allows. `exact`, `graph` (traverse everything, score every
   * neighbour) and `two-hop` (score only matching nodes, reaching them through non-matching neighbours)
   * force one path, with no fallback (for benchmarks and tests).
   */
  filterStrategy?: 'auto' | 'exact' | 'graph' | 'two-hop';
}

/** Nearest first. */
export interface SearchResult {
  labels: Uint32Array;
  distances: Float32Array;
}

/** What filtered search needs from an allow-set: membership and its size. */
export interface LabelSetLike {
  has(label: number): boolean;
  readonly size: number;
}

export interface EngineStats {
  dim: number;
  metric: Metric;
  params: HnswParams;
  /** Live (searchable) vectors. */
  count: number;
  /** Marked deleted and not yet unlinked from the graph. */
  deletedPending: number;
  /** Slots allocated for labels. */
  capacity: number;
  /** Highest layer in the graph (0 when only the base layer exists). */
  maxLevel: number;
  entryPoint: number | null;
  /** Nodes per layer, index = layer. */
  nodesPerLevel: number[];
  meanDegreeLevel0: number;
  maxDegreeLevel0: number;
  meanDegreeUpper: number;
  /** Bytes held by vectors, links and bookkeeping. */
  bytes: { vectors: number; links: number; other: number; total: number };
  kernels: 'wasm-simd' | 'js';
}
