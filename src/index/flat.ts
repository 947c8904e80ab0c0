import { EngineError } from '../engine/errors.ts';
import type { Metric } from '../engine/types.ts';
import { dot, l2sq, TopK } from './exact.ts';
import type { IndexOptions, IndexSearchOptions, IndexSearchResult, IndexStats, LabelSetLike, LocalIndex } from './types.ts';
import { checkBatch, checkDelete, checkEf, checkOptions, checkSearch } from './validate.ts';

/** Byte mask over labels, grown on demand: the flat backend's native allow-set. */
export class ByteMask implements LabelSetLike {
  bits: Uint8Array;
  size = 0;
  constructor(capacity = 0) {
    this.bits = new Uint8Array(Math.max(16, capacity));
  }
  static from(labels: Iterable<number>): ByteMask {
    const m = new ByteMask();
    for (const l of labels) m.add(l);
    return m;
  }
  add(label: number): void {
    if (label >= this.bits.length) {
      const grown = new Uint8Array(Math.max(label + 1, this.bits.length * 2));
      grown.set(this.bits);
      this.bits = grown;
    }
    if (this.bits[label] === 0) {
      this.bits[label] = 1;
      this.size++;
    }
  }
  has(label: number): boolean {
    return label < this.bits.length && this.bits[label] === 1;
  }
}

/**
 * Exact brute-force index: every search scans every live vector. The ground truth for the benchmark and a
 * reference implementation of the contract. Vectors live in one contiguous Float32Array (normalised at insert
 * for cosine); a delete moves the last row into the freed slot.
 */
export class FlatIndex implements LocalIndex<Float32Array, LabelSetLike> {
  readonly backend = 'flat' as const;
  readonly persistent = false;
  readonly exact = true;
  readonly dim: number;
  readonly metric: Metric;
  private ef: number;
  private data: Float32Array;
  private slotLabel: Uint32Array;
  private slotOf = new Map<number, number>();
  private count = 0;

  constructor(opts: IndexOptions) {
    checkOptions(opts);
    this.dim = opts.dim;
    this.metric = opts.metric;
    this.ef = opts.efSearch ?? 64;
    const cap = Math.max(16, opts.capacity ?? 0);
    this.data = new Float32Array(cap * this.dim);
    this.slotLabel = new Uint32Array(cap);
  }

  get size(): number {
    return this.count;
  }

  /** Kept for the contract; exact search has no beam. */
  get efSearch(): number {
    return this.ef;
  }

  set efSearch(ef: number) {
    checkEf(ef);
    this.ef = ef;
  }

  has(label: number): boolean {
    return this.slotOf.has(label);
  }

  private ensure(capacity: number): void {
    if (capacity <= this.slotLabel.length) return;
    const cap = Math.max(capacity, Math.ceil(this.slotLabel.length * 1.5));
    const data = new Float32Array(cap * this.dim);
    data.set(this.data.subarray(0, this.count * this.dim));
    const labels = new Uint32Array(cap);
    labels.set(this.slotLabel.subarray(0, this.count));
    this.data = data;
    this.slotLabel = labels;
  }

  addBatch(labels: ArrayLike<number>, vectors: ArrayLike<number>, onProgress?: (done: number, total: number) => void): void {
    const { dim } = this;
    checkBatch(labels, vectors, dim, this.metric, (l) => this.slotOf.has(l));
    const n = labels.length;
    this.ensure(this.count + n);
    for (let i = 0; i < n; i++) {
      const slot = this.count++;
      const off = slot * dim;
      for (let j = 0; j < dim; j++) this.data[off + j] = vectors[i * dim + j];
      if (this.metric === 'cosine') {
        const inv = 1 / Math.sqrt(dot(this.data, off, this.data, off, dim));
        for (let j = 0; j < dim; j++) this.data[off + j] *= inv;
      }
      this.slotLabel[slot] = labels[i];
      this.slotOf.set(labels[i], slot);
    }
    onProgress?.(n, n);
  }

  delete(labels: ArrayLike<number>): void {
    checkDelete(labels, (l) => this.slotOf.has(l));
    const { dim } = this;
    for (let i = 0; i < labels.length; i++) {
      const slot = this.slotOf.get(labels[i])!;
      const last = --this.count;
      if (slot !== last) {
        this.data.copyWithin(slot * dim, last * dim, last * dim + dim);
        const moved = this.slotLabel[last];
        this.slotLabel[slot] = moved;
        this.slotOf.set(moved, slot);
      }
      this.slotOf.delete(labels[i]);
    }
  }

  search(query: ArrayLike<number>, k: number, opts: IndexSearchOptions = {}): IndexSearchResult {
    checkSearch(query, k, this.dim, this.metric, opts.efSearch);
    const top = this.scan(this.prepareQuery(query), k, opts.filter);
    return {
      labels: Uint32Array.from(top.ids.subarray(0, top.count), (slot) => this.slotLabel[slot]),
      distances: Float32Array.from(top.dists.subarray(0, top.count)),
    };
  }

  private scan(q: Float32Array, k: number, filter?: LabelSetLike): TopK {
    const { dim, data, slotLabel } = this;
    const top = new TopK(Math.min(k, Math.max(1, this.count)));
    const l2 = this.metric === 'l2';
    let bound = Infinity;
    for (let slot = 0; slot < this.count; slot++) {
      if (filter !== undefined && !filter.has(slotLabel[slot])) continue;
      const d = l2 ? l2sq(data, slot * dim, q, 0, dim) : 1 - dot(data, slot * dim, q, 0, dim);
      if (d < bound) {
        top.push(slot, d);
        bound = top.bound;
      }
    }
    return top;
  }

  stats(): IndexStats {
    return {
      backend: 'flat',
      dim: this.dim,
      metric: this.metric,
      count: this.count,
      bytes: this.data.byteLength + this.slotLabel.byteLength + this.slotOf.size * 16,
      bytesMethod: 'array-sizes',
    };
  }

  save(_path: string): void {
    throw new EngineError('INVALID_ARGUMENT', 'the flat backend keeps no file; use the trellis or hnswlib backend to persist an index');
  }

  prepareQuery(query: ArrayLike<number>): Float32Array {
    const q = Float32Array.from(query);
    if (this.metric === 'cosine') {
      const n = Math.sqrt(dot(q, 0, q, 0, this.dim));
      if (n > 0) for (let j = 0; j < this.dim; j++) q[j] /= n;
    }
    return q;
  }

  prepareFilter(allowed: Iterable<number>): LabelSetLike {
    return ByteMask.from(allowed);
  }

  searchPrepared(query: Float32Array, k: number, filter?: LabelSetLike): ArrayLike<number> {
    const top = this.scan(query, k, filter);
    const out = new Uint32Array(top.count);
    for (let i = 0; i < top.count; i++) out[i] = this.slotLabel[top.ids[i]];
    return out;
  }
}
