import { readFileSync, writeFileSync } from 'node:fs';

/**
 * TEXMEX `.fvecs` / `.ivecs` files: each row is a little-endian int32 dimension `d`, then `d` float32 (fvecs) or
 * int32 (ivecs) values. Every row must have the same `d`. Readers check the layout and name the file in every error.
 */

export interface Vecs<T extends Float32Array | Int32Array> {
  /** Row-major rows * dim. */
  data: T;
  rows: number;
  dim: number;
}

export class DatasetError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'DatasetError';
  }
}

function parseVecs(file: string, buf: Uint8Array, kind: 'fvecs' | 'ivecs', maxRows?: number): Vecs<Float32Array> | Vecs<Int32Array> {
  if (buf.byteLength < 4) throw new DatasetError(file, `too short for a .${kind} file (${buf.byteLength} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dim = view.getInt32(0, true);
  if (dim <= 0 || dim > 1 << 20) throw new DatasetError(file, `first row declares dimension ${dim}; not a .${kind} file`);
  const rowBytes = 4 + 4 * dim;
  if (buf.byteLength % rowBytes !== 0) {
    throw new DatasetError(
      file,
      `${buf.byteLength} bytes is not a whole number of rows of ${rowBytes} bytes (dimension ${dim}); the file is truncated or not .${kind}`,
    );
  }
  const total = buf.byteLength / rowBytes;
  const rows = maxRows === undefined ? total : Math.min(total, maxRows);
  const data = kind === 'fvecs' ? new Float32Array(rows * dim) : new Int32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const off = r * rowBytes;
    const d = view.getInt32(off, true);
    if (d !== dim) throw new DatasetError(file, `row ${r} declares dimension ${d}, the first row ${dim}`);
    if (kind === 'fvecs') {
      const out = data as Float32Array;
      for (let j = 0; j < dim; j++) {
        const x = view.getFloat32(off + 4 + 4 * j, true);
        if (!Number.isFinite(x)) throw new DatasetError(file, `row ${r} has a non-finite value (${x}) at position ${j}`);
        out[r * dim + j] = x;
      }
    } else {
      const out = data as Int32Array;
      for (let j = 0; j < dim; j++) out[r * dim + j] = view.getInt32(off + 4 + 4 * j, true);
    }
  }
  return kind === 'fvecs' ? { data: data as Float32Array, rows, dim } : { data: data as Int32Array, rows, dim };
}

function readBytes(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new DatasetError(file, e.code === 'ENOENT' ? 'file not found' : `cannot read: ${e.message}`);
  }
}

/** Reads an .fvecs file (optionally only its first `maxRows` rows; the whole file's length is still checked). */
export function readFvecs(file: string, maxRows?: number): Vecs<Float32Array> {
  return parseVecs(file, readBytes(file), 'fvecs', maxRows) as Vecs<Float32Array>;
}

export function readIvecs(file: string, maxRows?: number): Vecs<Int32Array> {
  return parseVecs(file, readBytes(file), 'ivecs', maxRows) as Vecs<Int32Array>;
}

function encodeVecs(data: Float32Array | Int32Array, rows: number, dim: number): Uint8Array {
  if (!Number.isInteger(dim) || dim <= 0) throw new Error(`dimension must be a positive integer (got ${dim})`);
  if (data.length !== rows * dim) throw new Error(`data has ${data.length} values, expected rows ${rows} * dim ${dim}`);
  const rowBytes = 4 + 4 * dim;
  const buf = new Uint8Array(rows * rowBytes);
  const view = new DataView(buf.buffer);
  const float = data instanceof Float32Array;
  for (let r = 0; r < rows; r++) {
    const off = r * rowBytes;
    view.setInt32(off, dim, true);
    for (let j = 0; j < dim; j++) {
      if (float) view.setFloat32(off + 4 + 4 * j, data[r * dim + j], true);
      else view.setInt32(off + 4 + 4 * j, data[r * dim + j], true);
    }
  }
  return buf;
}

export function writeFvecs(file: string, data: Float32Array, rows: number, dim: number): void {
  writeFileSync(file, encodeVecs(data, rows, dim));
}

export function writeIvecs(file: string, data: Int32Array, rows: number, dim: number): void {
  writeFileSync(file, encodeVecs(data, rows, dim));
}
