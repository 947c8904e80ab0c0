import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { METRICS, type Metric } from '../../src/engine/types.ts';
import { DatasetError, readFvecs, readIvecs } from './vecs.ts';

/**
 * An ANN dataset folder (../shared/DESIGN.md): `base.fvecs`, `query.fvecs`, `groundtruth.ivecs` (0-based ids into
 * base, nearest first) and an optional `dataset.json` `{ "metric": "l2" | "cosine" | "ip" }` (default l2).
 */
export interface AnnDataset {
  name: string;
  metric: Metric;
  dim: number;
  n: number;
  base: Float32Array;
  nq: number;
  queries: Float32Array;
  /** The file's ground truth (nq * width), when it applies to the loaded base (no `limit` cut). */
  groundTruth?: { ids: Int32Array; width: number };
}

export interface LoadOptions {
  /** Use only the first `limit` base vectors (the file's ground truth then no longer applies). */
  limit?: number;
  /** Use only the first `queries` queries. */
  queries?: number;
}

export function loadDataset(dir: string, opts: LoadOptions = {}): AnnDataset {
  const root = resolve(dir);
  if (!existsSync(root)) throw new DatasetError(root, 'dataset folder not found');
  const files = { base: join(root, 'base.fvecs'), query: join(root, 'query.fvecs'), gt: join(root, 'groundtruth.ivecs'), meta: join(root, 'dataset.json') };
  for (const f of [files.base, files.query]) if (!existsSync(f)) throw new DatasetError(f, 'file not found (an ANN dataset folder needs base.fvecs, query.fvecs and groundtruth.ivecs)');

  let metric: Metric = 'l2';
  let name = basename(root);
  if (existsSync(files.meta)) {
    let meta: unknown;
    try {
      meta = JSON.parse(readFileSync(files.meta, 'utf8'));
    } catch (err) {
      throw new DatasetError(files.meta, `not valid JSON: ${(err as Error).message}`);
    }
    if (meta === null || typeof meta !== 'object') throw new DatasetError(files.meta, 'must be a JSON object');
    const m = (meta as { metric?: unknown }).metric;
    if (m !== undefined) {
      if (!METRICS.includes(m as Metric)) throw new DatasetError(files.meta, `unknown metric ${JSON.stringify(m)} (expected one of ${METRICS.join(', ')})`);
      metric = m as Metric;
    }
    const nm = (meta as { name?: unknown }).name;
    if (typeof nm === 'string' && nm) name = nm;
  }

  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit <= 0)) throw new Error(`--limit must be a positive integer (got ${opts.limit})`);
  if (opts.queries !== undefined && (!Number.isInteger(opts.queries) || opts.queries <= 0)) throw new Error(`--queries must be a positive integer (got ${opts.queries})`);
  const base = readFvecs(files.base, opts.limit);
  const query = readFvecs(files.query, opts.queries);
  if (query.dim !== base.dim) throw new DatasetError(files.query, `dimension ${query.dim} differs from base.fvecs (${base.dim})`);

  let groundTruth: AnnDataset['groundTruth'];
  const cut = opts.limit !== undefined && opts.limit < totalRows(files.base, base.dim);
  if (!existsSync(files.gt)) {
    if (!cut) throw new DatasetError(files.gt, 'file not found (needed unless --limit cuts the base and ground truth is recomputed)');
  } else if (!cut) {
    const gt = readIvecs(files.gt, query.rows);
    if (gt.rows < query.rows) throw new DatasetError(files.gt, `${gt.rows} rows for ${query.rows} queries`);
    for (let i = 0; i < gt.data.length; i++) {
      const id = gt.data[i];
      if (id < 0 || id >= base.rows) throw new DatasetError(files.gt, `row ${Math.floor(i / gt.dim)} names base id ${id}, outside [0, ${base.rows})`);
    }
    groundTruth = { ids: gt.data, width: gt.dim };
  }
  return { name, metric, dim: base.dim, n: base.rows, base: base.data, nq: query.rows, queries: query.data, groundTruth };
}

function totalRows(file: string, dim: number): number {
  // readFvecs already checked that the size is a whole number of rows.
  return statSync(file).size / (4 + 4 * dim);
}
