import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { EngineError } from './errors.ts';
import type { HnswSnapshot } from './hnsw.ts';
import type { Metric } from './types.ts';

/**
 * The `.hnsw` file, version 1, little-endian:
 *
 *   0  "TRELHNSW"   8-byte magic
 *   8  u32 version  12 u32 dim   16 u8 metric (0 cosine, 1 l2, 2 ip) + 3 pad
 *   20 u32 m        24 u32 efConstruction   28 u32 efSearch   32 i32 seed
 *   36 u32 hwm (labels 0..hwm-1 have slots)  40 i32 entry   44 i32 maxLevel
 *   48 u32 rng state   52 u32 upper-layer words   56..64 reserved (zero)
 *   64 sections, each padded to 4 bytes: state[hwm] u8, levels[hwm] u8, vectors[hwm*dim] f32,
 *      layer-0 links[hwm*(1+2m)] u32, upper-layer links[upperWords] u32 (which also holds the deleted set)
 *   end-8  u32 CRC-32 of every byte before it, then "TEND"
 *
 * Every length is implied by the header, so a truncated or padded file is caught before the checksum is read.
 */
export const FORMAT_VERSION = 1;
const MAGIC = Buffer.from('TRELHNSW', 'latin1');
const TAIL = Buffer.from('TEND', 'latin1');
const HEADER_BYTES = 64;
const METRIC_CODES: Metric[] = ['cosine', 'l2', 'ip'];

const pad4 = (n: number): number => (n + 3) & ~3;

export function encodeSnapshot(s: HnswSnapshot): Buffer {
  const { params, hwm } = s;
  const stride0 = 1 + 2 * params.m;
  const size = expectedSize(hwm, params.dim, stride0, s.upper.length);
  const buf = Buffer.alloc(size);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(FORMAT_VERSION, 8);
  buf.writeUInt32LE(params.dim, 12);
  buf.writeUInt8(METRIC_CODES.indexOf(params.metric), 16);
  buf.writeUInt32LE(params.m, 20);
  buf.writeUInt32LE(params.efConstruction, 24);
  buf.writeUInt32LE(params.efSearch, 28);
  buf.writeInt32LE(params.seed | 0, 32);
  buf.writeUInt32LE(hwm, 36);
  buf.writeInt32LE(s.entry, 40);
  buf.writeInt32LE(s.maxLevel, 44);
  buf.writeUInt32LE(s.rngState >>> 0, 48);
  buf.writeUInt32LE(s.upper.length, 52);
  let at = HEADER_BYTES;
  const put = (bytes: Uint8Array): void => {
    buf.set(bytes, at);
    at += pad4(bytes.byteLength);
  };
  put(s.state);
  put(s.levels);
  put(new Uint8Array(s.vectors.buffer, s.vectors.byteOffset, s.vectors.byteLength));
  put(new Uint8Array(s.links0.buffer, s.links0.byteOffset, s.links0.byteLength));
  put(new Uint8Array(s.upper.buffer, s.upper.byteOffset, s.upper.byteLength));
  buf.writeUInt32LE(crc32(buf.subarray(0, at)), at);
  TAIL.copy(buf, at + 4);
  return buf;
}

/** Parses and verifies a file's bytes; `source` names the file in every error. */
export function decodeSnapshot(bytes: Uint8Array, source: string): HnswSnapshot {
  const bad = (why: string): never => {
    throw new EngineError('CORRUPT_FILE', `${source}: ${why}`);
  };
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) bad('not a Trellis HNSW index file (bad magic bytes)');
  if (buf.length < HEADER_BYTES) bad(`truncated: ${buf.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const version = buf.readUInt32LE(8);
  if (version > FORMAT_VERSION) bad(`format version ${version} is newer than this build reads (${FORMAT_VERSION}); upgrade Trellis`);
  if (version < 1) bad(`format version ${version} is not valid`);
  const dim = buf.readUInt32LE(12);
  const metricCode = buf.readUInt8(16);
  const m = buf.readUInt32LE(20);
  const hwm = buf.readUInt32LE(36);
  const upperWords = buf.readUInt32LE(52);
  if (dim < 1 || dim > 65536) bad(`header holds an impossible dimension ${dim}`);
  if (metricCode >= METRIC_CODES.length) bad(`header holds an unknown metric code ${metricCode}`);
  if (m < 2 || m > 256) bad(`header holds an impossible m ${m}`);
  const stride0 = 1 + 2 * m;
  const want = expectedSize(hwm, dim, stride0, upperWords);
  if (buf.length < want) bad(`truncated: ${buf.length} bytes, the header promises ${want}`);
  if (buf.length > want) bad(`${buf.length - want} unexpected trailing bytes after the index`);
  const crcAt = want - 8;
  if (!buf.subarray(crcAt + 4).equals(TAIL)) bad('missing end marker');
  const stored = buf.readUInt32LE(crcAt);
  const actual = crc32(buf.subarray(0, crcAt));
  if (stored !== actual) bad(`checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)}): the file is corrupted`);

  let at = HEADER_BYTES;
  // Copy each section out: the typed arrays need aligned, owned memory, and the input buffer may be reused.
  const take = (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    out.set(buf.subarray(at, at + n));
    at += pad4(n);
    return out;
  };
  const state = take(hwm);
  const levels = take(hwm);
  const vectors = new Float32Array(take(hwm * dim * 4).buffer);
  const links0 = new Uint32Array(take(hwm * stride0 * 4).buffer);
  const upper = new Uint32Array(take(upperWords * 4).buffer);
  return {
    params: {
      dim,
      metric: METRIC_CODES[metricCode],
      m,
      efConstruction: buf.readUInt32LE(24),
      efSearch: buf.readUInt32LE(28),
      seed: buf.readInt32LE(32),
    },
    hwm,
    entry: buf.readInt32LE(40),
    maxLevel: buf.readInt32LE(44),
    rngState: buf.readUInt32LE(48),
    state,
    levels,
    vectors,
    links0,
    upper,
  };
}

/** Writes the file atomically: a temp file beside it, fsync, rename over the target, fsync the folder. */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  try {
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  }
}

export function readIndexFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new EngineError('CORRUPT_FILE', `${path}: cannot read index file (${code ?? (err as Error).message})`);
  }
}

function expectedSize(hwm: number, dim: number, stride0: number, upperWords: number): number {
  return HEADER_BYTES + pad4(hwm) * 2 + hwm * dim * 4 + hwm * stride0 * 4 + upperWords * 4 + 8;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
