import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Metric } from '../../src/engine/types.ts';
import { createLocalIndex } from '../../src/index/index.ts';
import type { BackendName, LocalIndex } from '../../src/index/types.ts';
import { loadDataset } from './dataset.ts';
import { computeGroundTruth, randomAllowSet, recallAtK, truncateGroundTruth, type GroundTruth } from './groundtruth.ts';
import { generateSynthetic, parseSyntheticSpec } from './synthetic.ts';

export interface BenchOptions {
  /** A dataset folder (base.fvecs, query.fvecs, groundtruth.ivecs, optional dataset.json). */
  dataset?: string;
  /** `N:DIM` for a seeded clustered Gaussian mixture instead of a folder. */
  synthetic?: string;
  /** Metric of the synthetic set (datasets take theirs from dataset.json). Default l2. */
  metric?: Metric;
  /** Queries to use: the first Q of the file, or Q generated. Default: all (dataset), 200 (synthetic). */
  queries?: number;
  backends: BackendName[];
  k: number;
  m: number;
  efConstruction: number;
  efs: number[];
  selectivities: number[];
  /** First N base vectors only (ground truth recomputed). */
  limit?: number;
  /** Share of points deleted after the main runs (0 = skip). */
  deleteFraction: number;
  seed: number;
  /** Timed passes per measurement; the median is reported. */
  passes: number;
  /** Each pass repeats the query set until it lasts at least this long, so short runs are not timer noise. */
  minPassMs: number;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

export const DEFAULT_OPTIONS: Omit<BenchOptions, 'dataset' | 'synthetic'> = {
  backends: ['trellis', 'hnswlib'],
  k: 10,
  m: 16,
  efConstruction: 200,
  efs: [10, 20, 40, 80, 160, 320],
  selectivities: [0.01, 0.1, 0.5],
  deleteFraction: 0.3,
  seed: 42,
  passes: 3,
  minPassMs: 100,
};

export interface Run {
  /** efSearch used (null for the exact flat backend, which has none). */
  ef: number | null;
  recall: number;
  qps: number;
}
export interface FilteredRun extends Run {
  selectivity: number;
}
export interface BackendReport {
  buildSeconds: number;
  indexBytes: number;
  /** `engine-stats` (trellis: stats().bytes.total), `serialized-file-size` (hnswlib: size of writeIndexSync's file, an estimate), `array-sizes` (flat). */
  indexBytesMethod: string;
  runs: Run[];
  filtered: FilteredRun[];
  /** Engine details where the backend has them (trellis: levels, degrees, kernels). */
  details?: Record<string, unknown>;
}
export interface MatchedPoint {
  ef: number | null;
  qps: number;
  recall: number;
}
export interface MatchedRatio {
  recall: number;
  trellis: MatchedPoint | null;
  hnswlib: MatchedPoint | null;
  /** trellis qps / hnswlib qps; null when either never reaches the recall. */
  ratio: number | null;
}
export interface Ratios {
  /** Unfiltered Trellis/hnswlib QPS at matched recall. */
  qpsAtRecall: MatchedRatio[];
  filtered: { selectivity: number; qpsAtRecall: MatchedRatio[] }[];
  /** trellis buildSeconds / hnswlib buildSeconds. */
  buildTime: number;
  /** trellis indexBytes / hnswlib indexBytes (different methods; see indexBytesMethod). */
  indexBytes: number;
}
export interface AfterDelete {
  fraction: number;
  deleted: number;
  remaining: number;
  backends: Record<string, { deleteSeconds: number; runs: Run[] }>;
  ratios: { qpsAtRecall: MatchedRatio[] } | null;
}
export interface BenchReport {
  dataset: string;
  source: { kind: 'dataset'; path: string } | { kind: 'synthetic'; spec: string; seed: number; clusters: number; intrinsicDim: number };
  metric: Metric;
  n: number;
  dim: number;
  queries: number;
  k: number;
  params: { m: number; efConstruction: number; efSearch: number[]; seed: number; passes: number; minPassMs: number };
  groundTruth: 'file' | 'computed';
  filter: { selectivity: number; allowed: number }[];
  backends: Record<string, BackendReport>;
  ratios: Ratios | null;
  afterDelete: AfterDelete | null;
  environment: { node: string; platform: string; arch: string; cpu: string; cpus: number; date: string };
}

export const RECALL_THRESHOLDS = [0.9, 0.95, 0.99];

function progress(log: ((line: string) => void) | undefined, what: string): ((done: number, total: number) => void) | undefined {
  if (!log) return undefined;
  let last = 0;
  const t0 = performance.now();
  return (done, total) => {
    const now = performance.now();
    if (done === total || now - last >= 2000) {
      last = now;
      log(`${what}: ${done}/${total} (${((100 * done) / total).toFixed(0)}%, ${((now - t0) / 1000).toFixed(1)} s)`);
    }
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Times single-threaded search over pre-converted queries: one untimed warm-up pass (its results give recall),
 * then `passes` timed passes, each repeating the query set enough times to last `minPassMs`; QPS is the median.
 */
export function measure<Q, F>(
  index: LocalIndex<Q, F>,
  queries: Q[],
  k: number,
  gt: GroundTruth,
  opts: { filter?: F; passes: number; minPassMs: number },
): { recall: number; qps: number } {
  const { filter } = opts;
  const results: ArrayLike<number>[] = new Array(queries.length);
  const w0 = performance.now();
  for (let q = 0; q < queries.length; q++) results[q] = index.searchPrepared(queries[q], k, filter);
  const warmMs = Math.max(1e-3, performance.now() - w0);
  const recall = recallAtK(results, gt, k);
  const repeats = Math.max(1, Math.ceil(opts.minPassMs / warmMs));
  const qps: number[] = [];
  let sink = 0;
  for (let p = 0; p < opts.passes; p++) {
    const t0 = performance.now();
    for (let r = 0; r < repeats; r++) {
      for (let q = 0; q < queries.length; q++) sink += index.searchPrepared(queries[q], k, filter).length;
    }
    const ms = performance.now() - t0;
    qps.push((repeats * queries.length) / (Math.max(ms, 1e-3) / 1000));
  }
  if (sink < 0) throw new Error('unreachable');
  return { recall, qps: median(qps) };
}

/** For each threshold: each backend's highest-QPS run reaching it, and trellis/hnswlib. */
export function matchedRatios(trellis: Run[], hnswlib: Run[], thresholds = RECALL_THRESHOLDS): MatchedRatio[] {
  const best = (runs: Run[], t: number): MatchedPoint | null => {
    let out: MatchedPoint | null = null;
    for (const r of runs) if (r.recall >= t && (out === null || r.qps > out.qps)) out = { ef: r.ef, qps: r.qps, recall: r.recall };
    return out;
  };
  return thresholds.map((recall) => {
    const a = best(trellis, recall);
    const b = best(hnswlib, recall);
    return { recall, trellis: a, hnswlib: b, ratio: a && b ? a.qps / b.qps : null };
  });
}

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const o = options;
  const log = o.log;
  if (!o.dataset === !o.synthetic) throw new Error('give exactly one of --dataset DIR or --synthetic N:DIM');
  if (!Number.isInteger(o.k) || o.k <= 0) throw new Error(`--k must be a positive integer (got ${o.k})`);
  if (o.efs.length === 0 || o.efs.some((e) => !Number.isInteger(e) || e <= 0)) throw new Error(`--ef must list positive integers (got ${o.efs.join(',')})`);
  if (o.selectivities.some((s) => !(s > 0 && s <= 1))) throw new Error(`--filter-selectivity values must be in (0, 1] (got ${o.selectivities.join(',')})`);
  if (!(o.deleteFraction >= 0 && o.deleteFraction < 1)) throw new Error(`--delete-fraction must be in [0, 1) (got ${o.deleteFraction})`);
  if (o.backends.length === 0) throw new Error('--backends is empty');

  // ---- data
  let name: string;
  let source: BenchReport['source'];
  let metric: Metric;
  let base: Float32Array;
  let queries: Float32Array;
  let n: number;
  let nq: number;
  let dim: number;
  let gt: GroundTruth | undefined;
  if (o.dataset) {
    log?.(`loading ${o.dataset}`);
    const ds = loadDataset(o.dataset, { limit: o.limit, queries: o.queries });
    ({ name, metric, base, queries, n, nq, dim } = ds);
    source = { kind: 'dataset', path: resolve(o.dataset) };
    if (ds.groundTruth && ds.groundTruth.width >= o.k) gt = truncateGroundTruth(ds.groundTruth.ids, nq, ds.groundTruth.width, o.k);
  } else {
    const spec = parseSyntheticSpec(o.synthetic!);
    const total = o.limit !== undefined ? Math.min(o.limit, spec.n) : spec.n;
    log?.(`generating synthetic ${total}x${spec.dim} (seed ${o.seed})`);
    const syn = generateSynthetic({ n: total, dim: spec.dim, queries: o.queries ?? 200, seed: o.seed, metric: o.metric ?? 'l2' });
    ({ base, queries, n, nq, dim, metric } = syn);
    name = `synthetic-${total}x${spec.dim}`;
    source = { kind: 'synthetic', spec: o.synthetic!, seed: o.seed, clusters: syn.clusters, intrinsicDim: syn.intrinsicDim };
  }
  if (o.k > n) throw new Error(`--k ${o.k} exceeds the ${n} base vectors`);
  const groundTruthKind = gt ? 'file' : 'computed';
  if (!gt) gt = computeGroundTruth(base, n, dim, queries, nq, o.k, metric, { onProgress: progress(log, 'ground truth') });

  const filters = o.selectivities.map((selectivity, i) => {
    const allow = randomAllowSet(n, selectivity, o.seed + 1000 + i);
    const fgt = computeGroundTruth(base, n, dim, queries, nq, o.k, metric, {
      allow: allow.mask,
      onProgress: progress(log, `filtered ground truth (selectivity ${selectivity})`),
    });
    return { selectivity, labels: allow.labels, gt: fgt };
  });

  let deletion: { labels: Uint32Array; gt: GroundTruth } | null = null;
  if (o.deleteFraction > 0) {
    const del = randomAllowSet(n, o.deleteFraction, o.seed + 2000);
    const keep = del.mask.map((b) => 1 - b);
    deletion = {
      labels: del.labels,
      gt: computeGroundTruth(base, n, dim, queries, nq, o.k, metric, { allow: keep, onProgress: progress(log, 'ground truth after delete') }),
    };
  }

  // ---- backends, one at a time
  const labels = Uint32Array.from({ length: n }, (_, i) => i);
  const backends: Record<string, BackendReport> = {};
  const afterDeleteBackends: AfterDelete['backends'] = {};
  const timing = { passes: o.passes, minPassMs: o.minPassMs };
  for (const backend of o.backends) {
    const index = await createLocalIndex(backend, { dim, metric, m: o.m, efConstruction: o.efConstruction, seed: o.seed, capacity: n });
    log?.(`[${backend}] building ${n} vectors (m=${o.m}, efConstruction=${o.efConstruction})`);
    const t0 = performance.now();
    index.addBatch(labels, base, progress(log, `[${backend}] build`));
    const buildSeconds = (performance.now() - t0) / 1000;
    const stats = index.stats();
    log?.(`[${backend}] built in ${buildSeconds.toFixed(2)} s; ${(stats.bytes / 2 ** 20).toFixed(1)} MiB (${stats.bytesMethod})`);

    const prepared = Array.from({ length: nq }, (_, q) => index.prepareQuery(queries.subarray(q * dim, (q + 1) * dim)));
    const efs: (number | null)[] = index.exact ? [null] : o.efs;
    const sweep = (g: GroundTruth, filter?: unknown): Run[] =>
      efs.map((ef) => {
        if (ef !== null) index.efSearch = ef;
        const r = measure(index, prepared, o.k, g, { ...timing, filter });
        return { ef, recall: r.recall, qps: Math.round(r.qps * 10) / 10 };
      });

    log?.(`[${backend}] unfiltered sweep over ef ${efs.join(',')}`);
    const runs = sweep(gt);
    const filtered: FilteredRun[] = [];
    for (const f of filters) {
      log?.(`[${backend}] filtered sweep, selectivity ${f.selectivity}`);
      const native = index.prepareFilter(f.labels);
      for (const r of sweep(f.gt, native)) filtered.push({ selectivity: f.selectivity, ...r });
    }
    const details: Record<string, unknown> | undefined = stats.engine
      ? {
          kernels: stats.engine.kernels,
          maxLevel: stats.engine.maxLevel,
          meanDegreeLevel0: stats.engine.meanDegreeLevel0,
          maxDegreeLevel0: stats.engine.maxDegreeLevel0,
          bytes: stats.engine.bytes,
        }
      : undefined;
    backends[backend] = { buildSeconds, indexBytes: stats.bytes, indexBytesMethod: stats.bytesMethod, runs, filtered, ...(details ? { details } : {}) };

    if (deletion) {
      log?.(`[${backend}] deleting ${deletion.labels.length} points (${(o.deleteFraction * 100).toFixed(0)}%)`);
      const d0 = performance.now();
      index.delete(deletion.labels);
      const deleteSeconds = (performance.now() - d0) / 1000;
      afterDeleteBackends[backend] = { deleteSeconds, runs: sweep(deletion.gt) };
    }
  }

  const both = backends.trellis && backends.hnswlib;
  const ratios: Ratios | null = both
    ? {
        qpsAtRecall: matchedRatios(backends.trellis.runs, backends.hnswlib.runs),
        filtered: o.selectivities.map((s) => ({
          selectivity: s,
          qpsAtRecall: matchedRatios(
            backends.trellis.filtered.filter((r) => r.selectivity === s),
            backends.hnswlib.filtered.filter((r) => r.selectivity === s),
          ),
        })),
        buildTime: backends.trellis.buildSeconds / backends.hnswlib.buildSeconds,
        indexBytes: backends.trellis.indexBytes / backends.hnswlib.indexBytes,
      }
    : null;
  const afterDelete: AfterDelete | null = deletion
    ? {
        fraction: o.deleteFraction,
        deleted: deletion.labels.length,
        remaining: n - deletion.labels.length,
        backends: afterDeleteBackends,
        ratios: both ? { qpsAtRecall: matchedRatios(afterDeleteBackends.trellis.runs, afterDeleteBackends.hnswlib.runs) } : null,
      }
    : null;

  const cpu = cpus();
  return {
    dataset: name,
    source,
    metric,
    n,
    dim,
    queries: nq,
    k: o.k,
    params: { m: o.m, efConstruction: o.efConstruction, efSearch: o.efs, seed: o.seed, passes: o.passes, minPassMs: o.minPassMs },
    groundTruth: groundTruthKind,
    filter: filters.map((f) => ({ selectivity: f.selectivity, allowed: f.labels.length })),
    backends,
    ratios,
    afterDelete,
    environment: {
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      cpu: cpu[0]?.model ?? 'unknown',
      cpus: cpu.length,
      date: new Date().toISOString(),
    },
  };
}
