import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { METRICS, type Metric } from '../../src/engine/types.ts';
import { isBackendName } from '../../src/index/index.ts';
import type { BackendName } from '../../src/index/types.ts';
import { DEFAULT_OPTIONS, runBench, type BenchOptions } from './bench.ts';
import { formatReport } from './report.ts';

/** `npm run bench:ann -- --dataset DIR | --synthetic N:DIM [...]`: see docs/ann-benchmark.md. */

const positiveInt = (flag: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${flag} expects a positive integer (got ${JSON.stringify(v)})`);
  return n;
};

const intList = (flag: string) => (v: string): number[] => v.split(',').filter((s) => s.trim() !== '').map((s) => positiveInt(flag)(s.trim()));

const fractionList = (v: string): number[] => {
  if (v.trim() === '' || v.trim() === 'none') return [];
  return v.split(',').map((s) => {
    const x = Number(s.trim());
    if (!(x > 0 && x <= 1)) throw new InvalidArgumentError(`--filter-selectivity expects fractions in (0, 1] (got ${JSON.stringify(s)})`);
    return x;
  });
};

const backendList = (v: string): BackendName[] =>
  v.split(',').map((s) => {
    const b = s.trim();
    if (!isBackendName(b)) throw new InvalidArgumentError(`unknown backend ${JSON.stringify(b)} (expected trellis, hnswlib or flat)`);
    return b;
  });

export function buildCommand(): Command {
  const d = DEFAULT_OPTIONS;
  return new Command('bench:ann')
    .description('Recall@k and single-thread QPS of the Trellis HNSW engine against hnswlib-node, side by side')
    .addOption(new Option('--dataset <dir>', 'ANN dataset folder: base.fvecs, query.fvecs, groundtruth.ivecs, optional dataset.json').conflicts('synthetic'))
    .addOption(new Option('--synthetic <N:DIM>', 'generate a seeded clustered Gaussian mixture with exact ground truth instead'))
    .addOption(new Option('--metric <metric>', 'metric of the synthetic set').choices(METRICS as string[]).default('l2'))
    .option('--queries <q>', 'queries to use (default: all of the dataset, 200 synthetic)', positiveInt('--queries'))
    .addOption(new Option('--backends <list>', 'comma-separated: trellis, hnswlib, flat').argParser(backendList).default(d.backends, d.backends.join(',')))
    .option('--k <k>', 'neighbours per query (recall@k)', positiveInt('--k'), d.k)
    .option('--m <m>', 'HNSW links per node (layer 0 gets 2*m)', positiveInt('--m'), d.m)
    .option('--ef-construction <ef>', 'HNSW beam width while building', positiveInt('--ef-construction'), d.efConstruction)
    .addOption(new Option('--ef <list>', 'efSearch values to sweep').argParser(intList('--ef')).default(d.efs, d.efs.join(',')))
    .addOption(
      new Option('--filter-selectivity <list>', 'allow-set sizes as fractions of the base; "none" to skip filtered runs')
        .argParser(fractionList)
        .default(d.selectivities, d.selectivities.join(',')),
    )
    .option('--limit <n>', 'use only the first N base vectors (ground truth recomputed)', positiveInt('--limit'))
    .option('--delete-fraction <f>', 'afterwards delete this share of points and measure again; 0 to skip', (v: string) => {
      const x = Number(v);
      if (!(x >= 0 && x < 1)) throw new InvalidArgumentError(`--delete-fraction expects a number in [0, 1) (got ${JSON.stringify(v)})`);
      return x;
    }, d.deleteFraction)
    .option('--seed <seed>', 'seed for the synthetic data, filters, deletions and HNSW levels', (v: string) => {
      const x = Number(v);
      if (!Number.isInteger(x)) throw new InvalidArgumentError(`--seed expects an integer (got ${JSON.stringify(v)})`);
      return x;
    }, d.seed)
    .option('--passes <n>', 'timed passes per measurement (median reported)', positiveInt('--passes'), d.passes)
    .option('--min-pass-ms <ms>', 'repeat the query set within a pass until it lasts this long', (v: string) => {
      const x = Number(v);
      if (!(x >= 0)) throw new InvalidArgumentError(`--min-pass-ms expects a number >= 0 (got ${JSON.stringify(v)})`);
      return x;
    }, d.minPassMs)
    .option('--json <file>', 'also write the full report as JSON')
    .option('--quiet', 'no progress on stderr');
}

export async function main(argv: string[]): Promise<number> {
  const cmd = buildCommand().exitOverride();
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    throw err;
  }
  const opts = cmd.opts<{
    dataset?: string;
    synthetic?: string;
    metric: Metric;
    queries?: number;
    backends: BackendName[];
    k: number;
    m: number;
    efConstruction: number;
    ef: number[];
    filterSelectivity: number[];
    limit?: number;
    deleteFraction: number;
    seed: number;
    passes: number;
    minPassMs: number;
    json?: string;
    quiet?: boolean;
  }>();
  if (!opts.dataset && !opts.synthetic) {
    process.stderr.write('bench:ann: give --dataset DIR or --synthetic N:DIM (see --help)\n');
    return 2;
  }
  const bench: BenchOptions = {
    dataset: opts.dataset,
    synthetic: opts.synthetic,
    metric: opts.metric,
    queries: opts.queries,
    backends: [...new Set(opts.backends)],
    k: opts.k,
    m: opts.m,
    efConstruction: opts.efConstruction,
    efs: opts.ef,
    selectivities: opts.filterSelectivity,
    limit: opts.limit,
    deleteFraction: opts.deleteFraction,
    seed: opts.seed,
    passes: opts.passes,
    minPassMs: opts.minPassMs,
    log: opts.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
  };
  const report = await runBench(bench);
  process.stdout.write(`${formatReport(report)}\n`);
  if (opts.json) {
    const file = resolve(opts.json);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(`wrote ${file}\n`);
  }
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`bench:ann: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
