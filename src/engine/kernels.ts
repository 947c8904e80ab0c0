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

/**
 * Owns the memory that holds every vector, plus scratch buffers for the query, the ids to score and their
 * distances. Vectors live in a WebAssembly.Memory so the SIMD kernels read them in place; the pure
 * TypeScript kernels read the same memory through a Float32Array, so both paths share one layout:
 *
 *   [query: dim f32][ids: SCRATCH_IDS u32][out: SCRATCH_IDS f32][vectors: capacity * dim f32]
 */
export class VectorArena {
  readonly kind: 'wasm-simd' | 'js';
  readonly dim: number;
  readonly memory: WebAssembly.Memory;
  readonly queryOff: number;
  readonly idsOff: number;
  readonly outOff: number;
  readonly vectorsOff: number;
  capacity = 0;
  f32!: Float32Array;
  ids!: Uint32Array;
  out!: Float32Array;
  private readonly wasm: WasmExports | null;
  /** Scores ids[0..count) against the vector at float index `qFloat`, writing distances to out. */
  readonly scoreBatch: (qFloat: number, count: number) => void;

  constructor(dim: number, metric: Metric, choice: KernelChoice, capacity: number) {
    this.dim = dim;
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
    this.ensureCapacity(Math.max(1, capacity));

    const ipLike = metric !== 'l2';
    if (this.wasm) {
      const fn = ipLike ? this.wasm.ipBatch : this.wasm.l2Batch;
      const { vectorsOff, idsOff, outOff } = this;
      this.scoreBatch = (qFloat, count) => fn(qFloat * 4, vectorsOff, dim, idsOff, count, outOff);
    } else {
      this.scoreBatch = ipLike ? (q, c) => this.ipBatchJs(q, c) : (q, c) => this.l2BatchJs(q, c);
    }
  }

  /** Float index of the query scratch row. */
  get queryFloat(): number {
    return this.queryOff >> 2;
  }

  /** Float index where label's row starts. */
  rowFloat(label: number): number {
    return (this.vectorsOff >> 2) + label * this.dim;
  }

  ensureCapacity(capacity: number): void {
    if (capacity <= this.capacity) return;
    const needBytes = this.vectorsOff + capacity * this.dim * 4;
    const needPages = Math.ceil(needBytes / PAGE);
    if (needPages > MAX_PAGES) {
      throw new EngineError(
        'INVALID_ARGUMENT',
        `capacity ${capacity} x ${this.dim} dims needs ${needBytes} bytes, more than the 4 GiB a wasm32 memory can hold`,
      );
    }
    const have = this.memory.buffer.byteLength / PAGE;
    if (needPages > have) this.memory.grow(needPages - have);
    this.capacity = capacity;
    // Growing detaches the old ArrayBuffer, so every view is rebuilt.
    const buf = this.memory.buffer;
    this.f32 = new Float32Array(buf);
    this.ids = new Uint32Array(buf, this.idsOff, SCRATCH_IDS);
    this.out = new Float32Array(buf, this.outOff, SCRATCH_IDS);
  }

  get vectorBytes(): number {
    return this.capacity * this.dim * 4;
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
