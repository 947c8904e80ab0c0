import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError, HnswIndex } from '../../src/engine/index.ts';
import { readFvecs, SHARED_DATA } from '../helpers/siftsmall.ts';

const DIM = 128;
let dir: string;
let idx: HnswIndex;
let base: Float32Array;
let file: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'trellis-format-'));
  base = readFvecs(`${SHARED_DATA}siftsmall/base.fvecs`, 1200).data;
  idx = new HnswIndex({ dim: DIM, metric: 'l2', m: 12, efConstruction: 80, efSearch: 50, seed: 5 });
  idx.addBatch(Uint32Array.from({ length: 1200 }, (_, i) => i), base);
  for (let i = 0; i < 1200; i += 17) idx.delete(i); // leave some deletions pending so the deleted set is saved too
  file = join(dir, 'docs.hnsw');
  idx.save(file);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectCorrupt(bytes: Uint8Array, pattern: RegExp): void {
  const path = join(dir, `bad-${Math.random().toString(36).slice(2)}.hnsw`);
  writeFileSync(path, bytes);
  let caught: unknown;
  try {
    HnswIndex.load(path);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(EngineError);
  expect((caught as EngineError).code).toBe('CORRUPT_FILE');
  expect((caught as Error).message).toContain(path);
  expect((caught as Error).message).toMatch(pattern);
}

describe('index files', () => {
  it('save then load gives identical results, parameters, deleted set and stats', () => {
    const loaded = HnswIndex.load(file);
    expect(loaded.params).toEqual(idx.params);
    expect(loaded.size).toBe(idx.size);
    expect(loaded.has(17)).toBe(false);
    expect(loaded.stats().deletedPending).toBe(idx.stats().deletedPending);
    for (let i = 0; i < 30; i++) {
      const q = base.subarray((i * 37) * DIM, (i * 37 + 1) * DIM);
      const a = idx.search(q, 10);
      const b = loaded.search(q, 10);
      expect(Array.from(b.labels)).toEqual(Array.from(a.labels));
      expect(Array.from(b.distances)).toEqual(Array.from(a.distances));
    }
    // the loaded index keeps working: the same insert on both gives the same graph
    loaded.add(5000, base.subarray(0, DIM));
    idx.add(5000, base.subarray(0, DIM));
    expect(Buffer.from(loaded.serialize()).equals(Buffer.from(idx.serialize()))).toBe(true);
    expect(loaded.checkInvariants()).toEqual([]);
  });

  it('save is atomic: no temp file is left and an existing file is replaced whole', () => {
    const other = new HnswIndex({ dim: DIM, metric: 'l2' });
    other.add(1, base.subarray(0, DIM));
    const path = join(dir, 'replace.hnsw');
    idx.save(path);
    other.save(path);
    expect(HnswIndex.load(path).size).toBe(1);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('refuses a truncated file', () => {
    const bytes = readFileSync(file);
    expectCorrupt(bytes.subarray(0, bytes.length - 100), /truncated/);
    expectCorrupt(bytes.subarray(0, 40), /truncated/);
  });

  it('refuses a file with one flipped byte in the vectors or links', () => {
    const bytes = Buffer.from(readFileSync(file));
    for (const at of [200, Math.floor(bytes.length / 2), bytes.length - 20]) {
      const copy = Buffer.from(bytes);
      copy[at] ^= 0x40;
      expectCorrupt(copy, /checksum mismatch|corrupted/);
    }
  });

  it('refuses a foreign file, an empty file and trailing garbage', () => {
    expectCorrupt(Buffer.from('{"this": "is json"}'), /not a Trellis HNSW index/);
    expectCorrupt(new Uint8Array(0), /not a Trellis HNSW index/);
    expectCorrupt(Buffer.concat([readFileSync(file), Buffer.from('extra')]), /trailing bytes/);
  });

  it('refuses a file from a newer format version', () => {
    const copy = Buffer.from(readFileSync(file));
    copy.writeUInt32LE(99, 8);
    expectCorrupt(copy, /format version 99 is newer/);
  });

  it('refuses a well-formed file whose graph is inconsistent (checksum recomputed by an attacker or a bug)', async () => {
    const { decodeSnapshot, encodeSnapshot } = await import('../../src/engine/format.ts');
    const snap = decodeSnapshot(readFileSync(file), 'x');
    snap.links0[1] = 999_999; // node 0's first link points past the end
    expectCorrupt(encodeSnapshot(snap), /graph is inconsistent.*missing label 999999/);
  });

  it('names a missing file', () => {
    const missing = join(dir, 'nope.hnsw');
    expect(() => HnswIndex.load(missing)).toThrow(new RegExp(`${missing}.*ENOENT`));
  });
});
