import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { runBench, DEFAULT_OPTIONS, type BenchReport } from '../../eval/ann/bench.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench:ann end to end', () => {
  it('runs the CLI on a tiny synthetic set, prints tables and writes the JSON report', async () => {
    const json = join(dir, 'out', 'report.json');
    const { stdout, stderr } = await run(
      process.execPath,
      [
        '--import', 'tsx', 'eval/ann/bench-ann.ts',
        '--synthetic', '1500:16', '--queries', '40', '--backends', 'trellis,hnswlib,flat',
        '--ef', '10,40,160', '--filter-selectivity', '0.02,0.5', '--delete-fraction', '0.3',
        '--m', '8', '--ef-construction', '64', '--min-pass-ms', '5', '--json', json,
      ],
      { cwd: ROOT, timeout: 50_000 },
    );
    expect(stderr).toMatch(/\[trellis\] build/);
    expect(stderr).toMatch(/ground truth/);
    expect(stdout).toMatch(/Unfiltered recall@10 and QPS/);
    expect(stdout).toMatch(/Filtered, selectivity 0.02 \(30 allowed\)/);
    expect(stdout).toMatch(/Trellis \/ hnswlib at matched recall/);
    expect(stdout).toMatch(/After deleting 450 points \(30%\)/);

    const r = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    expect(r).toMatchObject({ dataset: 'synthetic-1500x16', metric: 'l2', n: 1500, dim: 16, queries: 40, k: 10, params: { m: 8, efConstruction: 64 } });
    expect(Object.keys(r.backends).sort()).toEqual(['flat', 'hnswlib', 'trellis']);
    for (const name of ['trellis', 'hnswlib']) {
      const b = r.backends[name];
      expect(b.buildSeconds).toBeGreaterThan(0);
      expect(b.indexBytes).toBeGreaterThan(1500 * 16 * 4);
      expect(b.runs.map((x) => x.ef)).toEqual([10, 40, 160]);
      for (const x of [...b.runs, ...b.filtered]) {
        expect(x.recall).toBeGreaterThanOrEqual(0);
        expect(x.recall).toBeLessThanOrEqual(1);
        expect(x.qps).toBeGreaterThan(0);
      }
      // Recall grows with ef (up to ties at the top), and is high at ef 160 on 1500 points.
      expect(b.runs[2].recall).toBeGreaterThanOrEqual(b.runs[0].recall);
      expect(b.runs[2].recall).toBeGreaterThan(0.95);
      expect(b.filtered.map((x) => [x.selectivity, x.ef])).toEqual([[0.02, 10], [0.02, 40], [0.02, 160], [0.5, 10], [0.5, 40], [0.5, 160]]);
    }
    expect(r.backends.trellis.indexBytesMethod).toBe('engine-stats');
    expect(r.backends.hnswlib.indexBytesMethod).toBe('serialized-file-size');
    // The flat backend is the ground truth: exact, one run, recall 1 everywhere.
    expect(r.backends.flat.runs).toHaveLength(1);
    expect(r.backends.flat.runs[0]).toMatchObject({ ef: null, recall: 1 });
    expect(r.backends.flat.filtered.every((x) => x.recall === 1)).toBe(true);
    expect(r.afterDelete!.backends.flat.runs[0].recall).toBe(1);

    expect(r.ratios!.qpsAtRecall.map((x) => x.recall)).toEqual([0.9, 0.95, 0.99]);
    for (const m of r.ratios!.qpsAtRecall) {
      if (m.trellis && m.hnswlib) expect(m.ratio).toBeCloseTo(m.trellis.qps / m.hnswlib.qps, 6);
      else expect(m.ratio).toBeNull();
    }
    expect(r.ratios!.filtered.map((f) => f.selectivity)).toEqual([0.02, 0.5]);
    expect(r.ratios!.buildTime).toBeCloseTo(r.backends.trellis.buildSeconds / r.backends.hnswlib.buildSeconds, 6);
    expect(r.afterDelete).toMatchObject({ fraction: 0.3, deleted: 450, remaining: 1050 });
    expect(r.afterDelete!.backends.trellis.runs).toHaveLength(3);
    expect(r.afterDelete!.ratios!.qpsAtRecall).toHaveLength(3);
  });

  it('refuses bad arguments with a clear message', async () => {
    const fail = async (args: string[]) => {
      try {
        await run(process.execPath, ['--import', 'tsx', 'eval/ann/bench-ann.ts', ...args], { cwd: ROOT, timeout: 20_000 });
      } catch (e) {
        return (e as { stderr: string; code: number });
      }
      throw new Error(`expected ${args.join(' ')} to fail`);
    };
    expect((await fail(['--synthetic', '100:4', '--backends', 'faiss'])).stderr).toMatch(/unknown backend "faiss"/);
    expect((await fail([])).stderr).toMatch(/--dataset DIR or --synthetic N:DIM/);
    const missing = await fail(['--dataset', join(dir, 'nowhere')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nowhere: dataset folder not found/);
  });

  it('uses the file ground truth of a real dataset and recomputes it under --limit', async () => {
    const sift = join(ROOT, '../shared/data/siftsmall');
    const opts = { ...DEFAULT_OPTIONS, backends: ['flat' as const], selectivities: [], deleteFraction: 0, minPassMs: 1, passes: 1 };
    const full = await runBench({ ...opts, dataset: sift, queries: 5 });
    expect(full).toMatchObject({ dataset: 'siftsmall', n: 10000, queries: 5, groundTruth: 'file' });
    expect(full.backends.flat.runs[0].recall).toBeGreaterThanOrEqual(0.98);
    const cut = await runBench({ ...opts, dataset: sift, queries: 5, limit: 1000 });
    expect(cut).toMatchObject({ n: 1000, groundTruth: 'computed' });
    expect(cut.backends.flat.runs[0].recall).toBe(1);
    expect(full.ratios).toBeNull();
  });
});
