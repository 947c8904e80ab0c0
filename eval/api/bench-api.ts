/**
 * `npm run bench:api`: the HTTP API under load on loopback.
 *
 * Ingests >= 10,000 chunks (SciFact abstracts, 128-token chunks) into a temp TRELLIS_HOME, starts `trellis serve` as a
 * child process (so the load generator does not share its event loop), and drives it with autocannon (in-process):
 * search-by-vector, search-by-text (through the adaptive batcher) and ask (extractive), at 16 connections for ~10 s
 * each. In the same run it measures the embedding runner's own throughput on the same query texts with the same
 * concurrency (16 callers of `embedTexts([q])`, batched), for the ratio search-by-text / runner.
 *
 *   npm run bench:api -- [--duration 10] [--connections 16] [--chunk-size 128] [--min-chunks 10000] [--json FILE]
 *                        [--model trellis-static-wp256 | minilm-shaped | TAG] [--docs N (first N SciFact documents)]
 */
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ingest } from '../../indexer/ingest.ts';
import { createCollection } from '../../src/cli/collections.ts';
import { makeMiniLmShaped } from '../embed/make-models.ts';
import { openTrellis } from '../../src/context.ts';
import { TokenStore } from '../../src/store/index.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    'chunk-size': { type: 'string', default: '128' },
    'min-chunks': { type: 'string', default: '10000' },
    data: { type: 'string', default: resolve(process.cwd(), '../shared/data/scifact') },
    json: { type: 'string' },
    model: { type: 'string', default: 'trellis-static-wp256' },
    docs: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const DURATION = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const CHUNK = Number(args['chunk-size']);
const MIN_CHUNKS = Number(args['min-chunks']);
const DATA = resolve(args.data!);
const BIN = resolve(process.cwd(), 'bin/trellis.mjs');

const log = (s: string): void => void process.stderr.write(`${s}\n`);

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'trellis-bench-api-'));
  const queries = readFileSync(join(DATA, 'queries.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { text: string }).text);

  // 1. Ingest, and measure the runner on its own (same process, nothing else running).
  const t = openTrellis({ home });
  if (args.model === 'minilm-shaped') await t.embed.registry.importDir(await makeMiniLmShaped(), { name: 'minilm-shaped' });
  await createCollection(t, 'bench', { model: args.model });
  let corpus = join(DATA, 'corpus.jsonl');
  if (args.docs) {
    corpus = join(home, 'corpus.jsonl');
    writeFileSync(corpus, readFileSync(join(DATA, 'corpus.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, Number(args.docs)).join('\n') + '\n');
  }
  const t0 = performance.now();
  const s = await ingest(t, { collection: 'bench', paths: [corpus], chunking: { chunkSize: CHUNK, chunkOverlap: 16 }, loader: { textField: 'text', idField: '_id' } });
  const ingestSeconds = (performance.now() - t0) / 1000;
  if (s.chunks < MIN_CHUNKS) throw new Error(`only ${s.chunks} chunks (< ${MIN_CHUNKS}); lower --chunk-size`);
  log(`ingested ${s.documents} documents, ${s.chunks} chunks in ${ingestSeconds.toFixed(1)} s`);
  const model = await t.modelFor('bench');
  const vectors: number[][] = [];
  for (let at = 0; at < queries.length; at += 256) {
    const qv = await model.embedTexts(queries.slice(at, at + 256));
    for (let i = 0; i < qv.count; i++) vectors.push(Array.from(qv.vectors.subarray(i * qv.dimension, (i + 1) * qv.dimension), (x) => Math.round(x * 1e6) / 1e6));
  }
  const runner = await runnerThroughput(model, queries, CONNECTIONS, Math.min(DURATION, 5));
  log(`embedding runner: ${runner.itemsPerSecond.toFixed(0)} texts/s at ${CONNECTIONS} concurrent callers (mean batch ${runner.meanBatch.toFixed(1)})`);
  const token = new TokenStore(t.store).create({ name: 'bench', scope: 'read' }).token;
  await t.close();

  // 2. The server, as a child process.
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--rate-limit', '0'], { env: { ...process.env, TRELLIS_HOME: home }, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    let u: string | undefined;
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      u ??= /on (http:\/\/[\d.]+:\d+)/.exec(out)?.[1];
      if (u && out.includes('trellis: ready')) res(u);
    });
    child.on('exit', (c) => rej(new Error(`server exited ${c}: ${out}`)));
  });
  log(`server ${url}`);

  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const scenario = async (name: string, path: string, body: (i: number) => unknown) => {
    let i = 0;
    // warm-up
    await fetch(url + path, { method: 'POST', headers, body: JSON.stringify(body(0)) });
    const r = await autocannon({
      url,
      connections: CONNECTIONS,
      duration: DURATION,
      requests: [{ method: 'POST', path, headers, setupRequest: (req: Record<string, unknown>) => ({ ...req, body: JSON.stringify(body(i++)) }) }],
    });
    const errors = r.errors + r.timeouts + r.non2xx;
    const row = { scenario: name, requests: r.requests.total, rps: r.requests.average, p50Ms: r.latency.p50, p90Ms: r.latency.p90, p99Ms: r.latency.p99, maxMs: r.latency.max, errors, non2xx: r.non2xx };
    log(`${name}: ${row.rps.toFixed(0)} req/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, errors ${errors}`);
    return row;
  };
  const rows = [];
  try {
    rows.push(await scenario('search-by-vector', '/v1/collections/bench/search', (i) => ({ vector: vectors[i % vectors.length], k: 10, include: ['text'] })));
    rows.push(await scenario('search-by-text', '/v1/collections/bench/search', (i) => ({ text: queries[i % queries.length], k: 10, include: ['text'] })));
    rows.push(await scenario('ask (extractive)', '/v1/collections/bench/ask', (i) => ({ question: queries[i % queries.length], k: 5, provider: 'extractive' })));
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    if (!args.keep) rmSync(home, { recursive: true, force: true });
  }

  const text = rows.find((r) => r.scenario === 'search-by-text')!;
  const vec = rows.find((r) => r.scenario === 'search-by-vector')!;
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    corpus: { documents: s.documents, chunks: s.chunks, chunkSize: CHUNK, ingestSeconds },
    model: model.tag,
    connections: CONNECTIONS,
    durationSeconds: DURATION,
    runner: runner,
    scenarios: rows,
    targets: {
      searchByVectorP99Ms: { value: vec.p99Ms, target: '< 20', met: vec.p99Ms < 20 },
      textVsRunner: { value: text.rps / runner.itemsPerSecond, target: '>= 0.8', met: text.rps / runner.itemsPerSecond >= 0.8 },
      zeroErrors: { value: rows.reduce((a, r) => a + r.errors, 0), met: rows.every((r) => r.errors === 0) },
    },
  };
  console.log(`\nTrellis API on loopback: ${s.chunks} chunks (${model.tag}), ${CONNECTIONS} connections, ${DURATION} s per scenario (${result.machine.cpus} CPUs)\n`);
  const hdr = ['scenario', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'errors'];
  const table = rows.map((r) => [r.scenario, r.rps.toFixed(0), String(r.p50Ms), String(r.p90Ms), String(r.p99Ms), String(r.maxMs), String(r.errors)]);
  table.push(['embedding runner', runner.itemsPerSecond.toFixed(0), String(runner.p50Ms.toFixed(1)), '', String(runner.p99Ms.toFixed(1)), '', '0']);
  const w = hdr.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  for (const r of [hdr, ...table]) console.log(r.map((c, i) => (i ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  '));
  console.log(`\nsearch-by-vector p99 ${vec.p99Ms} ms (target < 20): ${result.targets.searchByVectorP99Ms.met ? 'met' : 'NOT met'}`);
  console.log(`search-by-text / runner throughput = ${(result.targets.textVsRunner.value * 100).toFixed(0)} % (target >= 80 %): ${result.targets.textVsRunner.met ? 'met' : 'NOT met'}`);
  console.log(`errors: ${result.targets.zeroErrors.value}`);
  if (args.json) {
    writeFileSync(args.json, JSON.stringify(result, null, 2));
    console.log(`wrote ${args.json}`);
  }
}

/** `concurrency` callers each embedding one query at a time, back to back, for `seconds`: texts/s and latency. */
async function runnerThroughput(model: Awaited<ReturnType<ReturnType<typeof openTrellis>['modelFor']>>, texts: string[], concurrency: number, seconds: number) {
  const before = model.metrics()[0]!;
  const lat: number[] = [];
  let next = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const q = texts[next++ % texts.length]!;
        const t0 = performance.now();
        await model.embedTexts([q]);
        lat.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const after = model.metrics()[0]!;
  lat.sort((a, b) => a - b);
  return {
    concurrency,
    items: lat.length,
    itemsPerSecond: lat.length / elapsed,
    p50Ms: lat[Math.floor(lat.length * 0.5)]!,
    p99Ms: lat[Math.floor(lat.length * 0.99)]!,
    meanBatch: (after.completed - before.completed) / Math.max(1, after.batches - before.batches),
  };
}

await main();
