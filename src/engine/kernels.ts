import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EngineError } from './errors.ts';
import type { KernelChoice, Metric } from './types.ts';

const WASM_PATH = fileURLToPath(new URL('../../build/kernels.wasm', import.meta.url));
const PAGE = 65536;
/** Largest number of ids scored in one batch call; neighbour lists and exact-scan chunks fit in it. */
export const SCRATCH_IDS = 4096;
/** wasm32 memory cannot exceed 4 GiB; we stay one page under. */
const MAX_PAGES = 65535;

interface WasmExports {
  l2Batch(query: number, base: number, dim: number, ids: number, count: number, out: number): void;
  ipBatch(query: number, base: number, dim: number, ids: number, count: number, out: number): void;
  searchLayer0(
    q: number, vectors: number, dim: number, metricIp: number,
    links: number, stride0: number, state: number, visited: number, stamp: number,
    cand: number, res: number, io: number, nEntries: number, ef: number,
    filter: number, check: number, budget: number, pending: number,
  ): number;
  searchLayer0Filtered(
    q: number, vectors: number, dim: number, metricIp: number,
    links: number, stride0: number, state: number, visited: number, stamp: number,
    cand: number, res: number, io: number, nEntries: number, ef: number,
    filter: number, maxPerHop: number, budget: number,
  ): number;
}

let cachedModule: WebAssembly.Module | null | undefined;
let warned = false;

function loadModule(): WebAssembly.Module | null {
  if (cachedModule !== undefined) return cachedModule;
  cachedModule = null;
  if (existsSync(WASM_PATH)) {
    const bytes = readFileSync(WASM_PATH);
    // validate() is false when the runtime lacks SIMD, which is how "SIMD unavailable" shows up.
    if (WebAssembly.validate(bytes)) cachedModule = new WebAssembly.Module(bytes);
  }
  return cachedModule;
}

/** True when the SIMD kernels were built and this runtime can run them. */
export function wasmKernelsAvailable(): boolean {
  return loadModule() !== null;
}

/** Byte offsets of the arena's regions for a given capacity. */
interface Layout {
  vectorsOff: number;
  linksOff: number;
  stateOff: number;
  visitedOff: number;
  filterOff: number;
  candOff: number;
  resOff: number;
  ioOff: number;
  end: number;
}

/**
 * Owns the WebAssembly memory that holds the graph's hot data, so the SIMD code reads it in place:
 *
 *   [query row][ids: SCRATCH_IDS u32][out: SCRATCH_IDS f32]            fixed scratch
 *   [vectors: cap * dim f32][layer-0 links: cap * stride0 u32][state: cap u8]   the graph
 *   [visited: cap u32][filter bitset][candidate heap][result heap][entry/result pairs]   search scratch
 *
 * The pure TypeScript kernels read the same memory through typed-array views, so both paths share one
 * layout. Growing moves the graph regions up (vectors stay put) and rebuilds every view, since growing a
 * WebAssembly.Memory detaches its old ArrayBuffer.
 */
export class VectorArena {
  readonly kind: 'wasm-simd' | 'js';
  readonly dim: number;
  readonly stride0: number;
  readonly memory: WebAssembly.Memory;
  readonly queryOff: number;
  readonly idsOff: number;
  readonly outOff: number;
  readonly vectorsOff: number;
  capacity = 0;
  private layout!: Layout;
  f32!: Float32Array;
  u32!: Uint32Array;
  ids!: Uint32Array;
  out!: Float32Array;
  /** Layer-0 lists, `stride0` words per label: count, then neighbour labels. */
  links0!: Uint32Array;
  /** Per-label slot state (0 empty, 1 live, 2 deleted). */
  state!: Uint8Array;
  private readonly wasm: WasmExports | null;
  private readonly metricIp: number;
  private wasmStamp = 0;
  /** Scores ids[0..count) against the vector at float index `qFloat`, writing distances to out. */
  readonly scoreBatch: (qFloat: number, count: number) => void;

  constructor(dim: number, metric: Metric, choice: KernelChoice, capacity: number, stride0: number) {
    this.dim = dim;
    this.stride0 = stride0;
    const rowBytes = dim * 4;
    this.queryOff = align(16, 16);
    this.idsOff = align(this.queryOff + rowBytes, 16);
    this.outOff = align(this.idsOff + SCRATCH_IDS * 4, 16);
    this.vectorsOff = align(this.outOff + SCRATCH_IDS * 4, 16);
    this.memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES });

    const mod = choice === 'js' ? null : loadModule();
    if (choice === 'wasm' && mod === null) {
      throw new EngineError(
        'KERNELS_UNAVAILABLE',
        `WebAssembly SIMD kernels are unavailable (missing or unsupported ${WASM_PATH}); run "npm run build:wasm" or use kernels: "js"`,
      );
    }
    if (choice === 'auto' && mod === null && !warned) {
      warned = true;
      process.emitWarning(`Trellis engine: SIMD kernels not found at ${WASM_PATH}; using the TypeScript kernels`);
    }
    this.wasm = mod ? (new WebAssembly.Instance(mod, { env: { memory: this.memory } }).exports as unknown as WasmExports) : null;
    this.kind = this.wasm ? 'wasm-simd' : 'js';
    this.metricIp = metric === 'l2' ? 0 : 1;
    this.ensureCapacity(Math.max(1, capacity));

    if (this.wasm) {
      const fn = this.metricIp ? this.wasm.ipBatch : this.wasm.l2Batch;
      const { vectorsOff, idsOff, outOff } = this;
      this.scoreBatch = (qFloat, count) => fn(qFloat * 4, vectorsOff, dim, idsOff, count, outOff);
    } else {
      this.scoreBatch = this.metricIp ? (q, c) => this.ipBatchJs(q, c) : (q, c) => this.l2BatchJs(q, c);
    }
  }

  /** True when layer-0 search can run in WebAssembly. */
  get hasWasmSearch(): boolean {
    return this.wasm !== null;
  }

  /** Float index of the query scratch row. */
  get queryFloat(): number {
    return this.queryOff >> 2;
  }

  /** Float index where label's row starts. */
  rowFloat(label: number): number {
    return (this.vectorsOff >> 2) + label * this.dim;
  }

  private layoutFor(cap: number): Layout {
    const vectorsOff = this.vectorsOff;
    const linksOff = align(vectorsOff + cap * this.dim * 4, 16);
    const stateOff = align(linksOff + cap * this.stride0 * 4, 16);
    const visitedOff = align(stateOff + cap, 16);
    const filterOff = align(visitedOff + cap * 4, 16);
    const candOff = align(filterOff + Math.ceil(cap / 32) * 4, 16);
    const pairs = (cap + 16) * 8;
    const resOff = candOff + pairs;
    const ioOff = resOff + pairs;
    return { vectorsOff, linksOff, stateOff, visitedOff, filterOff, candOff, resOff, ioOff, end: ioOff + pairs };
  }

  ensureCapacity(capacity: number): void {
    if (capacity <= this.capacity) return;
    const next = this.layoutFor(capacity);
    const needPages = Math.ceil(next.end / PAGE);
    if (needPages > MAX_PAGES) {
      throw new EngineError(
        'INVALID_ARGUMENT',
        `capacity ${capacity} x ${this.dim} dims needs ${next.end} bytes, more than the 4 GiB a wasm32 memory can hold`,
      );
    }
    const have = this.memory.buffer.byteLength / PAGE;
    if (needPages > have) this.memory.grow(needPages - have);
    const u8 = new Uint8Array(this.memory.buffer);
    const old = this.layout;
    const oldCap = this.capacity;
    if (old) {
      // Move the later region first: each destination lies at or above its source and beyond the end of
      // every region not yet moved, and copyWithin handles the overlap of a region with itself.
      const stateBytes = oldCap;
      u8.copyWithin(next.stateOff, old.stateOff, old.stateOff + stateBytes);
      u8.fill(0, next.stateOff + stateBytes, next.visitedOff);
      const linkBytes = oldCap * this.stride0 * 4;
      u8.copyWithin(next.linksOff, old.linksOff, old.linksOff + linkBytes);
      u8.fill(0, next.linksOff + linkBytes, next.stateOff);
      // The rows of the new labels now cover where links and state used to be.
      u8.fill(0, this.vectorsOff + oldCap * this.dim * 4, next.linksOff);
    }
    u8.fill(0, next.visitedOff, next.filterOff);
    this.wasmStamp = 0;
    this.layout = next;
    this.capacity = capacity;
    const buf = this.memory.buffer;
    this.f32 = new Float32Array(buf);
    this.u32 = new Uint32Array(buf);
    this.ids = new Uint32Array(buf, this.idsOff, SCRATCH_IDS);
    this.out = new Float32Array(buf, this.outOff, SCRATCH_IDS);
    this.links0 = new Uint32Array(buf, next.linksOff, capacity * this.stride0);
    this.state = new Uint8Array(buf, next.stateOff, capacity);
  }

  /**
   * Layer-0 beam search in WebAssembly (see searchLayer0 in kernels.as.ts). Entry points come in, and the
   * results go out, through ids/dists[0..n), nearest first. `filterWords` is a bitset over labels or null.
   * Returns the result count, or -1 when the search scored more than `budget` vectors.
   */
  searchLayer0(qFloat: number, ids: Uint32Array, dists: Float32Array, nEntries: number, ef: number, filterWords: Uint32Array | null, check: boolean, budget: number, twoHop = false): number {
    const L = this.layout;
    const u32 = this.u32;
    const f32 = this.f32;
    const io = L.ioOff >> 2;
    for (let i = 0; i < nEntries; i++) {
      u32[io + 2 * i] = ids[i];
      f32[io + 2 * i + 1] = dists[i];
    }
    let filterAddr = 0;
    if (filterWords) {
      const words = Math.ceil(this.capacity / 32);
      const fw = L.filterOff >> 2;
      const n = Math.min(words, filterWords.length);
      u32.set(n === filterWords.length ? filterWords : filterWords.subarray(0, n), fw);
      if (n < words) u32.fill(0, fw + n, fw + words);
      filterAddr = L.filterOff;
    }
    if (this.wasmStamp >= 0xfffffffe) {
      u32.fill(0, L.visitedOff >> 2, (L.visitedOff >> 2) + this.capacity);
      this.wasmStamp = 0;
    }
    const wasmBudget = budget === Infinity ? -1 : Math.min(budget, 0x7fffffff);
    const n = filterAddr !== 0 && twoHop
      ? this.wasm!.searchLayer0Filtered(
          qFloat * 4, this.vectorsOff, this.dim, this.metricIp,
          L.linksOff, this.stride0, L.stateOff, L.visitedOff, ++this.wasmStamp,
          L.candOff, L.resOff, L.ioOff, nEntries, Math.min(ef, this.capacity + 8),
          filterAddr, this.stride0 - 1, wasmBudget,
        )
      : this.wasm!.searchLayer0(
          qFloat * 4, this.vectorsOff, this.dim, this.metricIp,
          L.linksOff, this.stride0, L.stateOff, L.visitedOff, ++this.wasmStamp,
          L.candOff, L.resOff, L.ioOff, nEntries, Math.min(ef, this.capacity + 8),
          filterAddr, check ? 1 : 0, wasmBudget, this.idsOff,
        );
    for (let i = 0; i < n; i++) {
      ids[i] = u32[io + 2 * i];
      dists[i] = f32[io + 2 * i + 1];
    }
    return n;
  }

  get vectorBytes(): number {
    return this.capacity * this.dim * 4;
  }

  /** Bytes of the search scratch regions (visited stamps, filter bitset, heaps). */
  get scratchBytes(): number {
    return this.layout.end - this.layout.visitedOff;
  }

  private l2BatchJs(qFloat: number, count: number): void {
    const f = this.f32;
    const dim = this.dim;
    const ids = this.ids;
    const out = this.out;
    const base = this.vectorsOff >> 2;
    for (let j = 0; j < count; j++) {
      const r = base + ids[j] * dim;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let i = 0;
      for (; i + 4 <= dim; i += 4) {
        const d0 = f[qFloat + i] - f[r + i];
        const d1 = f[qFloat + i + 1] - f[r + i + 1];
        const d2 = f[qFloat + i + 2] - f[r + i + 2];
        const d3 = f[qFloat + i + 3] - f[r + i + 3];
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
      }
      for (; i < dim; i++) {
        const d = f[qFloat + i] - f[r + i];
        s0 += d * d;
      }
      out[j] = s0 + s1 + s2 + s3;
    }
  }

  private ipBatchJs(qFloat: number, count: number): void {
    const f = this.f32;
    const dim = this.dim;
    const ids = this.ids;
    const out = this.out;
    const base = this.vectorsOff >> 2;
    for (let j = 0; j < count; j++) {
      const r = base + ids[j] * dim;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let i = 0;
      for (; i + 4 <= dim; i += 4) {
        s0 += f[qFloat + i] * f[r + i];
        s1 += f[qFloat + i + 1] * f[r + i + 1];
        s2 += f[qFloat + i + 2] * f[r + i + 2];
        s3 += f[qFloat + i + 3] * f[r + i + 3];
      }
      for (; i < dim; i++) s0 += f[qFloat + i] * f[r + i];
      out[j] = 1 - (s0 + s1 + s2 + s3);
    }
  }
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
