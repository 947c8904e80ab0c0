import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type ChunkInput, type Store } from '../../src/store/index.ts';
import { mulberry32 } from '../../src/engine/rng.ts';

export function tempDir(prefix = 'trellis-store-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic PRNG: the engine's mulberry32, so every seeded sequence in the project is the same generator. */
export const rng = mulberry32;

export function randomVector(dim: number, r: () => number): Float32Array {
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = r() * 2 - 1;
  return v;
}

export function chunks(texts: string[], dim: number, r: () => number, extra: Partial<ChunkInput> = {}): ChunkInput[] {
  return texts.map((text) => ({ text, vector: randomVector(dim, r), ...extra }));
}

export function newStore(dir: string, name = 'trellis.db'): Store {
  return openStore(join(dir, name));
}
