import type { BenchReport, MatchedRatio, Run } from './bench.ts';

/** Renders a BenchReport as plain-text tables for the terminal. */

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const fmtQps = (q: number): string => (q >= 100 ? Math.round(q).toLocaleString('en-US') : q.toFixed(1));
const fmtRecall = (r: number): string => r.toFixed(4);
const fmtRatio = (r: number | null): string => (r === null ? '-' : `${r.toFixed(2)}x`);
const fmtBytes = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** One row per ef, a recall and QPS column pair per backend. */
function sweepTable(byBackend: [string, Run[]][]): string {
  const efs: (number | null)[] = [];
  for (const [, runs] of byBackend) for (const r of runs) if (!efs.includes(r.ef)) efs.push(r.ef);
  efs.sort((a, b) => (a ?? 0) - (b ?? 0));
  const header = ['ef', ...byBackend.flatMap(([b]) => [`${b} recall`, `${b} QPS`])];
  const rows = efs.map((ef) => [
    ef === null ? 'exact' : String(ef),
    ...byBackend.flatMap(([, runs]) => {
      const r = runs.find((x) => x.ef === ef);
      return r ? [fmtRecall(r.recall), fmtQps(r.qps)] : ['', ''];
    }),
  ]);
  return table(header, rows);
}

function matchedTable(label: string, rows: MatchedRatio[]): string[][] {
  const point = (p: MatchedRatio['trellis']) => (p ? `${fmtQps(p.qps)} (ef ${p.ef ?? 'exact'})` : 'not reached');
  return rows.map((r) => [label, `>= ${r.recall.toFixed(2)}`, point(r.trellis), point(r.hnswlib), fmtRatio(r.ratio)]);
}

export function formatReport(r: BenchReport): string {
  const out: string[] = [];
  const names = Object.keys(r.backends);
  out.push(
    `ANN benchmark: ${r.dataset} (${r.metric}), n=${r.n}, dim=${r.dim}, queries=${r.queries}, k=${r.k}, m=${r.params.m}, efConstruction=${r.params.efConstruction}` +
      `, ground truth ${r.groundTruth}; QPS = single thread, median of ${r.params.passes} passes`,
  );
  out.push('');
  out.push(
    table(
      ['backend', 'build s', 'index size', 'size from'],
      names.map((b) => {
        const x = r.backends[b];
        return [b, x.buildSeconds.toFixed(2), fmtBytes(x.indexBytes), x.indexBytesMethod];
      }),
    ),
  );
  out.push('');
  out.push(`Unfiltered recall@${r.k} and QPS`);
  out.push(sweepTable(names.map((b) => [b, r.backends[b].runs])));
  for (const f of r.filter) {
    out.push('');
    out.push(`Filtered, selectivity ${f.selectivity} (${f.allowed} allowed): recall@${r.k} and QPS`);
    out.push(sweepTable(names.map((b) => [b, r.backends[b].filtered.filter((x) => x.selectivity === f.selectivity)])));
  }
  if (r.ratios) {
    out.push('');
    out.push('Trellis / hnswlib at matched recall (highest-QPS run reaching it)');
    const rows = [
      ...matchedTable('unfiltered', r.ratios.qpsAtRecall),
      ...r.ratios.filtered.flatMap((f) => matchedTable(`filtered ${f.selectivity}`, f.qpsAtRecall)),
      ...(r.afterDelete?.ratios ? matchedTable(`after delete ${r.afterDelete.fraction}`, r.afterDelete.ratios.qpsAtRecall) : []),
    ];
    out.push(table(['search', 'recall', 'trellis QPS', 'hnswlib QPS', 'ratio'], rows));
    out.push('');
    out.push(`Build time trellis/hnswlib: ${fmtRatio(r.ratios.buildTime)}   index size trellis/hnswlib: ${fmtRatio(r.ratios.indexBytes)}`);
  }
  if (r.afterDelete) {
    const d = r.afterDelete;
    out.push('');
    out.push(`After deleting ${d.deleted} points (${(d.fraction * 100).toFixed(0)}%), no rebuild: recall@${r.k} on the ${d.remaining} remaining`);
    out.push(
      table(
        ['backend', 'delete s'],
        Object.entries(d.backends).map(([b, x]) => [b, x.deleteSeconds.toFixed(3)]),
      ),
    );
    out.push(sweepTable(Object.entries(d.backends).map(([b, x]) => [b, x.runs])));
  }
  return out.join('\n');
}
