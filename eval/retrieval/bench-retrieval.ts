/**
 * `npm run bench:retrieval -- --dataset DIR [--json FILE]`: retrieval quality of Trellis on a BEIR-style dataset
 * (corpus.jsonl, queries.jsonl, qrels/test.tsv), ingested through the real pipeline with the default text model.
 * Reports nDCG@10, Recall@10/100 and MRR@10 for exact vector search, the HNSW engine at several efSearch values,
 * keyword (FTS5 BM25) and hybrid (RRF), plus ingest throughput and the share of ingest time spent outside embedding.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { ingest } from '../../indexer/ingest.ts';
import { createCollection } from '../../src/cli/collections.ts';
import { openTrellis } from '../../src/context.ts';
import { createLocalIndex } from '../../src/index/index.ts';
import { retrieve } from '../../src/rag/retrieve.ts';
import { makeMiniLmShaped } from '../embed/make-models.ts';
import { evaluateRun, type Qrels, type RunMetrics } from './metrics.ts';

interface Flags {
  dataset: string;
  json?: string;
  ef: string;
  chunkSize: number;
  queries?: number;
  keep?: boolean;
  tuneQueries: number;
  model?: string;
}

const program = new Command('bench:retrieval')
  .requiredOption('--dataset <dir>', 'BEIR-style folder: corpus.jsonl, queries.jsonl, qrels/test.tsv')
  .option('--json <file>', 'write the report as JSON')
  .option('--ef <list>', 'efSearch values for the HNSW runs', '16,64,256')
  .option('--chunk-size <tokens>', 'chunk size for ingestion', (v) => Number(v), 512)
  .option('--queries <n>', 'use only the first n test queries', (v) => Number(v))
  .option('--keep', 'keep the temporary TRELLIS_HOME')
  .option('--model <name>', 'embed with this model instead of the shipped default: "minilm-shaped" generates a random-weight MiniLM-shaped model (throughput only: its quality is meaningless), or a model folder to import')
  .option('--tune-queries <n>', 'train queries used to choose the hybrid fusion weights', (v) => Number(v), 200)
  .parse();
const flags = program.opts<Flags>();

const dataset = resolve(flags.dataset);
const name = basename(dataset);
const qrels = readQrels(join(dataset, 'qrels', 'test.tsv'));
const queryText = new Map<string, string>();
for (const line of readFileSync(join(dataset, 'queries.jsonl'), 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const q = JSON.parse(line) as { _id: string; text: string };
  if (qrels.has(q._id)) queryText.set(q._id, q.text);
}
let queryIds = [...qrels.keys()].filter((id) => queryText.has(id));
if (flags.queries) queryIds = queryIds.slice(0, flags.queries);

const home = mkdtempSync(join(tmpdir(), 'trellis-retrieval-'));
const t = openTrellis({ home }, { log: (l) => process.stderr.write(`${l}\n`) });
try {
  // BEIR indexes title + text; write the corpus in that shape for the jsonl loader.
  const corpusDir = join(home, 'corpus');
  mkdirSync(corpusDir);
  const rows = readFileSync(join(dataset, 'corpus.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { _id: string; title?: string; text: string });
  writeFileSync(join(corpusDir, 'corpus.jsonl'), rows.map((r) => JSON.stringify({ id: r._id, text: r.title ? `${r.title}\n\n${r.text}` : r.text })).join('\n'));

  const collection = 'bench';
  let modelTag: string | undefined;
  if (flags.model) {
    const dir = flags.model === 'minilm-shaped' ? await makeMiniLmShaped() : resolve(flags.model);
    modelTag = (await t.embed.registry.importDir(dir, { name: basename(dir).replace(/[^A-Za-z0-9_-]/g, '-') })).tag;
  }
  await createCollection(t, collection, { model: modelTag });
  process.stderr.write(`ingesting ${rows.length} documents from ${name}...\n`);
  let lastPct = -1;
  const summary = await ingest(t, {
    collection,
    paths: [corpusDir],
    chunking: { chunkSize: flags.chunkSize, chunkOverlap: Math.min(32, flags.chunkSize >> 3) },
    loader: { textField: 'text', idField: 'id', metadataFields: ['id'] },
    onProgress: (p) => {
      const pct = Math.floor((100 * p.chunks) / rows.length);
      if (pct !== lastPct && pct % 10 === 0) process.stderr.write(`  ${p.chunks} chunks\n`);
      lastPct = pct;
    },
  });
  // A jsonl file is one file of many documents: report per-chunk throughput.
  process.stderr.write(`ingested ${summary.documents} documents, ${summary.chunks} chunks in ${summary.seconds.toFixed(1)} s\n`);

  // Chunk hits -> document ranking: a document ranks where its best chunk does.
  const docOf = (metadata: Record<string, unknown>): string => String(metadata.id);
  const depth = 100;
  const chunkDepth = Math.max(200, 2 * depth);
  const model = await t.modelFor(collection);
  const embedded = await model.embedTexts(queryIds.map((q) => queryText.get(q)!));
  const qvec = (i: number): Float32Array => embedded.vectors.subarray(i * embedded.dimension, (i + 1) * embedded.dimension);

  const runs: (RunMetrics & { mode: string; efSearch?: number; queriesPerSecond: number })[] = [];
  const measure = async (mode: string, efSearch: number | undefined, rank: (qi: number) => Promise<string[]>): Promise<void> => {
    const ranked = new Map<string, string[]>();
    const t0 = performance.now();
    for (let i = 0; i < queryIds.length; i++) ranked.set(queryIds[i], await rank(i));
    const seconds = (performance.now() - t0) / 1000;
    const m = evaluateRun(ranked, qrels);
    runs.push({ mode, ...(efSearch !== undefined ? { efSearch } : {}), ...m, queriesPerSecond: queryIds.length / seconds });
    process.stderr.write(`${mode}${efSearch ? ` ef=${efSearch}` : ''}: nDCG@10 ${m['ndcg@10'].toFixed(4)}\n`);
  };
  const dedupe = (ids: string[]): string[] => [...new Set(ids)].slice(0, depth);

  // exact: brute force over the stored vectors (the flat backend), the ground truth for the HNSW runs
  const c = t.store.requireCollection(collection);
  const flat = await createLocalIndex('flat', { dim: c.dim, metric: c.metric });
  for (const batch of t.store.iterateVectors(collection, { batchSize: 4096 })) flat.addBatch(batch.labels, batch.vectors);
  await measure('exact', undefined, async (i) => {
    const r = flat.search(qvec(i), chunkDepth);
    return dedupe(t.store.getChunksByLabels(collection, r.labels).map((ch) => docOf(ch!.metadata)));
  });
  for (const ef of flags.ef.split(',').map(Number)) {
    await measure('hnsw', ef, async (i) => {
      const r = await retrieve(t, collection, { vector: qvec(i), k: chunkDepth, efSearch: ef });
      return dedupe(r.hits.map((h) => docOf(h.metadata)));
    });
  }
  await measure('keyword', undefined, async (i) => {
    const r = await retrieve(t, collection, { text: queryText.get(queryIds[i])!, k: chunkDepth, mode: 'keyword' });
    return dedupe(r.hits.map((h) => docOf(h.metadata)));
  });
  // Hybrid fusion weights are chosen on the TRAIN split (never on the test queries), then applied to test.
  const tuning = await tuneHybrid();
  await measure('hybrid', c.efSearch, async (i) => {
    const r = await retrieve(t, collection, { text: queryText.get(queryIds[i])!, k: chunkDepth, mode: 'hybrid', weights: tuning.weights });
    return dedupe(r.hits.map((h) => docOf(h.metadata)));
  });

  async function tuneHybrid(): Promise<{ weights: { vector: number; keyword: number }; split: string; queries: number; sweep: { vector: number; keyword: number; 'ndcg@10': number }[] }> {
    const trainPath = join(dataset, 'qrels', 'train.tsv');
    const fallback = { weights: { vector: 1, keyword: 1 }, split: 'none (no qrels/train.tsv): equal weights', queries: 0, sweep: [] };
    let train: Qrels;
    try {
      train = readQrels(trainPath);
    } catch {
      return fallback;
    }
    const texts = new Map<string, string>();
    for (const line of readFileSync(join(dataset, 'queries.jsonl'), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const q = JSON.parse(line) as { _id: string; text: string };
      if (train.has(q._id) && !qrels.has(q._id)) texts.set(q._id, q.text);
    }
    const ids = [...texts.keys()].slice(0, flags.tuneQueries);
    const sweep: { vector: number; keyword: number; 'ndcg@10': number }[] = [];
    for (const vector of [0.1, 0.2, 0.3, 0.5, 0.7, 1]) {
      const ranked = new Map<string, string[]>();
      for (const id of ids) {
        const r = await retrieve(t, collection, { text: texts.get(id)!, k: 100, mode: 'hybrid', weights: { vector, keyword: 1 } });
        ranked.set(id, dedupe(r.hits.map((h) => docOf(h.metadata))));
      }
      sweep.push({ vector, keyword: 1, 'ndcg@10': evaluateRun(ranked, train)['ndcg@10'] });
      process.stderr.write(`  tuning on train: vector weight ${vector}: nDCG@10 ${sweep.at(-1)!['ndcg@10'].toFixed(4)}\n`);
    }
    const best = sweep.reduce((a, b) => (b['ndcg@10'] > a['ndcg@10'] ? b : a));
    return { weights: { vector: best.vector, keyword: best.keyword }, split: 'train', queries: ids.length, sweep };
  }

  const report = {
    dataset: name,
    model: c.model,
    queries: queryIds.length,
    documents: summary.documents,
    chunks: summary.chunks,
    chunkSize: flags.chunkSize,
    defaultEfSearch: c.efSearch,
    hybridTuning: tuning,
    runs,
    ingest: {
      seconds: summary.seconds,
      embedSeconds: summary.embedSeconds,
      chunksPerSecond: summary.chunksPerSecond,
      nonEmbedShare: summary.seconds > 0 ? 1 - summary.embedSeconds / summary.seconds : 0,
    },
  };
  printTable(report.runs);
  console.log(`\ningest: ${report.chunks} chunks in ${summary.seconds.toFixed(1)} s = ${summary.chunksPerSecond.toFixed(0)} chunks/s; time outside embedding ${(100 * report.ingest.nonEmbedShare).toFixed(1)} %`);
  const exact = runs.find((r) => r.mode === 'exact')!;
  const atDefault = runs.find((r) => r.mode === 'hnsw' && r.efSearch === c.efSearch);
  if (atDefault) console.log(`HNSW at default efSearch ${c.efSearch}: nDCG@10 ${(atDefault['ndcg@10'] - exact['ndcg@10']).toFixed(4)} from exact`);
  if (flags.json) {
    mkdirSync(dirname(resolve(flags.json)), { recursive: true });
    writeFileSync(flags.json, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`wrote ${resolve(flags.json)}`);
  }
} finally {
  await t.close();
  if (!flags.keep) rmSync(home, { recursive: true, force: true });
  else console.error(`kept ${home}`);
}

function readQrels(path: string): Qrels {
  const q: Qrels = new Map();
  const lines = readFileSync(path, 'utf8').split('\n').slice(1);
  for (const line of lines) {
    const [qid, did, score] = line.trim().split('\t');
    if (!qid || !did) continue;
    if (!q.has(qid)) q.set(qid, new Map());
    q.get(qid)!.set(did, Number(score));
  }
  return q;
}

function printTable(runs: (RunMetrics & { mode: string; efSearch?: number; queriesPerSecond: number })[]): void {
  console.log('\nmode     efSearch  nDCG@10  Recall@10  Recall@100  MRR@10  queries/s');
  for (const r of runs) {
    console.log(
      `${r.mode.padEnd(8)} ${String(r.efSearch ?? '-').padStart(8)}  ${r['ndcg@10'].toFixed(4)}   ${r['recall@10'].toFixed(4)}     ${r['recall@100'].toFixed(4)}  ${r['mrr@10'].toFixed(4)}  ${r.queriesPerSecond.toFixed(0).padStart(9)}`,
    );
  }
}
