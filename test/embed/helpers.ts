import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULTS } from '../../src/config.ts';
import { EmbeddingService, type RunnerOptions } from '../../src/embed/index.ts';

/** ../shared relative to the repository root (tests run from the root). */
export const SHARED = resolve(process.cwd(), '../shared');
export const FIXTURES = join(SHARED, 'models/fixtures');
export const BERT_DIR = join(FIXTURES, 'tiny-bert-random');
export const CLIP_DIR = join(FIXTURES, 'tiny-clip-random');
export const COCO = join(SHARED, 'data/coco-mini');

export function tempHome(prefix = 'trellis-embed-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function readJson<T = any>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

export function cocoImages(n: number): string[] {
  return readdirSync(join(COCO, 'train2017'))
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, n)
    .map((f) => join(COCO, 'train2017', f));
}

/** A service on a fresh home, quiet, single intra-op thread (tests share 2 cores). */
export function makeService(home = tempHome(), embed: Partial<typeof DEFAULTS.embed> = {}, extra: Partial<RunnerOptions> = {}): EmbeddingService {
  return new EmbeddingService({ home, embed: { ...DEFAULTS.embed, intraOpThreads: 1, ...embed } }, { log: () => {}, ...extra });
}

/** transformers.js, local files only: never the network. */
export async function transformersJs(): Promise<typeof import('@huggingface/transformers')> {
  const t = await import('@huggingface/transformers');
  t.env.allowRemoteModels = false;
  t.env.allowLocalModels = true;
  t.env.localModelPath = `${FIXTURES}/`;
  return t;
}

export function row(v: Float32Array, dim: number, i: number): Float32Array {
  return v.subarray(i * dim, (i + 1) * dim);
}
