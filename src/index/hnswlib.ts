import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import hnswlib from 'hnswlib-node';
import { EngineError } from '../engine/errors.ts';
import { METRICS, type Metric } from '../engine/types.ts';
import type { IndexOptions, IndexSearchOptions, IndexSearchResult, IndexStats, LocalIndex } from './types.ts';
import { checkBatch, checkDelete, checkEf, checkOptions, checkSearch } from './validate.ts';

type Hnsw = InstanceType<typeof hnswlib.HierarchicalNSW>;
type FilterFn = (label: number) => boolean;

const META_VERSION = 1;

interface HnswlibMeta {
  format: 'trellis-hnswlib-meta';
  version: number;
  dim: number;
  metric: Metric;
  m: number;
  efConstruction: number;
  efSearch: number;
  seed: number;
  /** Elements in the hnswlib file, deleted ones included. */
  elements: number;
  /** Labels marked deleted in the hnswlib file. */
  deleted: number[];
  fileBytes: number;
  sha256: string;
}

/** The sidecar that `save` writes next to hnswlib's own file (hnswlib's file records neither the metric nor the dimension). */
export function hnswlibMetaPath(path: string): string {
  return `${path}.meta.json`;
}

/**
 * hnswlib-node's HierarchicalNSW behind the contract. Metrics map one to one onto hnswlib spaces
 * (l2 -> 'l2', squared; ip -> 'ip', 1 - dot; cosine -> 'cosine', normalised ip). Filtered search uses hnswlib's
 * filter callback. hnswlib silently replaces a vector on a repeated label and has no live count, so this adapter
 * tracks live labels itself to keep the contract's errors. Its native query type is a plain `number[]`.
 */
export class HnswlibIndex implements LocalIndex<number[], FilterFn> {
  readonly backend = 'hnswlib' as const;
  readonly persistent = true;
  readonly exact = false;
  readonly dim: number;
  readonly metric: Metric;
  readonly m: number;
  readonly efConstruction: number;
  readonly seed: number;
  private index: Hnsw;
  private live = new Set<number>();
  /** Elements stored by hnswlib, deleted ones included (a deleted label's slot is reused only when that label is added again). */
  private elements = 0;
  private deletedLabels = new Set<number>();
  private ef: number;

  constructor(opts: IndexOptions, loadFrom?: { path: string; meta: HnswlibMeta }) {
    checkOptions(opts);
    this.dim = opts.dim;
    this.metric = opts.metric;
    this.m = opts.m ?? 16;
    this.efConstruction = opts.efConstruction ?? 200;
    this.seed = opts.seed ?? 42;
    this.ef = opts.efSearch ?? 64;
    this.index = new hnswlib.HierarchicalNSW(opts.metric, opts.dim);
    if (loadFrom) {
      try {
        this.index.readIndexSync(loadFrom.path, false);
      } catch (err) {
        throw new EngineError('CORRUPT_FILE', `${loadFrom.path}: hnswlib could not read the index: ${(err as Error).message}`);
      }
      const ids = this.index.getIdsList();
      this.elements = ids.length;
      if (this.elements !== loadFrom.meta.elements) {
        throw new EngineError('CORRUPT_FILE', `${loadFrom.path}: holds ${this.elements} elements, its meta file says ${loadFrom.meta.elements}`);
      }
      for (const l of loadFrom.meta.deleted) this.deletedLabels.add(l);
      for (const l of ids) if (!this.deletedLabels.has(l)) this.live.add(l);
    } else {
      this.index.initIndex({ maxElements: Math.max(16, opts.capacity ?? 0), m: this.m, efConstruction: this.efConstruction, randomSeed: this.seed });
    }
    this.index.setEf(this.ef);
  }

  get size(): number {
    return this.live.size;
  }

  get efSearch(): number {
    return this.ef;
  }

  set efSearch(ef: number) {
    checkEf(ef);
    this.ef = ef;
    this.index.setEf(ef);
  }

  has(label: number): boolean {
    return this.live.has(label);
  }

  addBatch(labels: ArrayLike<number>, vectors: ArrayLike<number>, onProgress?: (done: number, total: number) => void): void {
    const { dim } = this;
    checkBatch(labels, vectors, dim, this.metric, (l) => this.live.has(l));
    const n = labels.length;
    let fresh = 0;
    for (let i = 0; i < n; i++) if (!this.deletedLabels.has(labels[i])) fresh++;
    const need = this.elements + fresh;
    const max = this.index.getMaxElements();
    if (need > max) this.index.resizeIndex(Math.max(need, Math.ceil(max * 1.5)));
    const every = Math.max(1000, Math.floor(n / 50));
    const row = new Array<number>(dim);
    for (let i = 0; i < n; i++) {
      const off = i * dim;
      for (let j = 0; j < dim; j++) row[j] = vectors[off + j];
      // A label deleted earlier still has its hnswlib slot: addPoint unmarks it and replaces the vector (relinking it).
      this.index.addPoint(row, labels[i]);
      this.live.add(labels[i]);
      if (this.deletedLabels.has(labels[i])) this.deletedLabels.delete(labels[i]);
      else this.elements++;
      if (onProgress && ((i + 1) % every === 0 || i + 1 === n)) onProgress(i + 1, n);
    }
  }

  delete(labels: ArrayLike<number>): void {
    checkDelete(labels, (l) => this.live.has(l));
    for (let i = 0; i < labels.length; i++) {
      this.index.markDelete(labels[i]);
      this.live.delete(labels[i]);
      this.deletedLabels.add(labels[i]);
    }
  }

  search(query: ArrayLike<number>, k: number, opts: IndexSearchOptions = {}): IndexSearchResult {
    checkSearch(query, k, this.dim, this.metric, opts.efSearch);
    const filter = opts.filter;
    const fn: FilterFn | undefined = filter ? (label) => filter.has(label) : undefined;
    const q = Array.from(query);
    const kk = Math.min(k, this.live.size);
    if (kk === 0 || (filter !== undefined && filter.size === 0)) return { labels: new Uint32Array(0), distances: new Float32Array(0) };
    if (opts.efSearch !== undefined) this.index.setEf(opts.efSearch);
    try {
      const res = this.index.searchKnn(q, kk, fn);
      return { labels: Uint32Array.from(res.neighbors), distances: Float32Array.from(res.distances) };
    } finally {
      if (opts.efSearch !== undefined) this.index.setEf(this.ef);
    }
  }

  stats(): IndexStats {
    return {
      backend: 'hnswlib',
      dim: this.dim,
      metric: this.metric,
      count: this.live.size,
      bytes: this.serializedBytes(),
      bytesMethod: 'serialized-file-size',
      params: { m: this.m, efConstruction: this.efConstruction, efSearch: this.ef, seed: this.seed },
    };
  }

  /** hnswlib-node does not report its memory; the size of the file writeIndexSync produces is the estimate (it holds vectors, links and labels). */
  serializedBytes(): number {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-hnswlib-'));
    try {
      const file = join(dir, 'index.bin');
      this.index.writeIndexSync(file);
      return statSync(file).size;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Writes hnswlib's file at `path` and a checksummed sidecar `path.meta.json`; both through a temp file and rename. */
  save(path: string): void {
    const tmp = join(dirname(path), `.${Date.now()}-${process.pid}.hnswlib.tmp`);
    try {
      this.index.writeIndexSync(tmp);
      const bytes = readFileSync(tmp);
      const meta: HnswlibMeta = {
        format: 'trellis-hnswlib-meta',
        version: META_VERSION,
        dim: this.dim,
        metric: this.metric,
        m: this.m,
        efConstruction: this.efConstruction,
        efSearch: this.ef,
        seed: this.seed,
        elements: this.elements,
        deleted: [...this.deletedLabels],
        fileBytes: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      };
      writeFileSync(`${tmp}.meta`, JSON.stringify(meta));
      renameSync(tmp, path);
      renameSync(`${tmp}.meta`, hnswlibMetaPath(path));
    } finally {
      rmSync(tmp, { force: true });
      rmSync(`${tmp}.meta`, { force: true });
    }
  }

  /** Reads what `save` wrote. The checksum is verified before hnswlib sees the file, so a damaged file is refused, not parsed. */
  static load(path: string): HnswlibIndex {
    const metaPath = hnswlibMetaPath(path);
    let meta: HnswlibMeta;
    try {
      meta = JSON.parse(readFileSync(metaPath, 'utf8')) as HnswlibMeta;
    } catch (err) {
      throw new EngineError('CORRUPT_FILE', `${metaPath}: cannot read the hnswlib index's meta file: ${(err as Error).message}`);
    }
    if (meta?.format !== 'trellis-hnswlib-meta' || meta.version !== META_VERSION || !METRICS.includes(meta.metric) || !Array.isArray(meta.deleted)) {
      throw new EngineError('CORRUPT_FILE', `${metaPath}: not a Trellis hnswlib meta file (version ${META_VERSION})`);
    }
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      throw new EngineError('CORRUPT_FILE', `${path}: cannot read the hnswlib index: ${(err as Error).message}`);
    }
    if (bytes.length !== meta.fileBytes) {
      throw new EngineError('CORRUPT_FILE', `${path}: ${bytes.length} bytes, expected ${meta.fileBytes} (truncated or replaced)`);
    }
    if (createHash('sha256').update(bytes).digest('hex') !== meta.sha256) {
      throw new EngineError('CORRUPT_FILE', `${path}: checksum mismatch (the file is corrupted)`);
    }
    return new HnswlibIndex(
      { dim: meta.dim, metric: meta.metric, m: meta.m, efConstruction: meta.efConstruction, efSearch: meta.efSearch, seed: meta.seed },
      { path, meta },
    );
  }

  prepareQuery(query: Float32Array): number[] {
    return Array.from(query);
  }

  prepareFilter(allowed: Iterable<number>): FilterFn {
    let max = 0;
    const list = [...allowed];
    for (const l of list) if (l > max) max = l;
    const mask = new Uint8Array(max + 1);
    for (const l of list) mask[l] = 1;
    return (label: number) => mask[label] === 1;
  }

  searchPrepared(query: number[], k: number, filter?: FilterFn): ArrayLike<number> {
    return this.index.searchKnn(query, Math.min(k, this.live.size), filter).neighbors;
  }
}
