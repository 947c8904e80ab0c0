/**
 * bench:embed — Trellis's embedding runner side by side with the transformers.js pipeline, in one process run.
 *
 *   npm run bench:embed -- [--model TAG[,TAG...]] [--n 256] [--images 64] [--concurrency 1,8,32] [--batch 32] [--json FILE]
 *
 * TAG: any registered model (TRELLIS_HOME), or `minilm-shaped` / `clip-b32-shaped`: random-weight models with the
 * real compute shapes of all-MiniLM-L6-v2 and CLIP ViT-B/32's vision tower, generated at bench time into os.tmpdir().
 * Default: minilm-shaped, trellis-static-wp256, clip-b32-shaped.
 *
 * Scenarios (per model): batch B at concurrency 1 (Trellis vs transformers.js), then C concurrent single-item callers
 * for each C (Trellis batching on, Trellis batching off, transformers.js). Images include decode + preprocessing.
 * Text models run two text sets (--texts): `chunks` (SciFact title + abstract start, 17-165 tokens) and `queries`
 * (SciFact queries, ~10-40 tokens: what concurrent search callers send).
 *
 * Run policy, the same in both modes: one model run in flight per session (the batcher never overlaps runs), each run
 * using onnxruntime's intra-op threads. "Batching off" = every caller's item is its own run (maxBatchSize 1), queued
 * behind the run in flight; it gets no parallelism the batched mode does not get.
 * On a shared machine the load of others moves throughput by 2x or more, so on and off are measured in alternating
 * rounds (--rounds, default 5) and the reported figures are medians; the on/off ratio is the median of per-round ratios.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULTS, loadConfig } from '../../src/config.ts';
import { EmbeddingService, type EmbeddingModel } from '../../src/embed/index.ts';
import { makeClipB32Shaped, makeMiniLmShaped } from './make-models.ts';

interface Result {
  model: string;
  engine: 'trellis' | 'transformers.js';
  input: 'text' | 'image';
  batchSize: number;
  concurrency: number;
  batching: boolean;
  items: number;
  itemsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Which text set (text models only). */
  texts?: 'chunks' | 'queries';
  /** Trellis only: mean items per model run (from the batcher metrics). */
  meanBatch?: number;
  /** Trellis only: batchSizes[n] = model runs that held n items (summed over rounds). */
  batchSizes?: Record<number, number>;
  /** Trellis text only: padded tokens / real tokens over the runs. */
  paddingFactor?: number;
  /** Trellis only: share of wall time the session spent in model runs. */
  sessionBusy?: number;
  /** Alternating rounds measured; items/s and latencies are medians over them. */
  rounds?: number;
  /** Median over rounds of (this row's items/s / its baseline's items/s) in the same round: batching off for the
   *  concurrency scenarios, transformers.js for the batch-B row. */
  onOffRatio?: number;
}

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'minilm-shaped,trellis-static-wp256,clip-b32-shaped' },
    n: { type: 'string', default: '256' },
    images: { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '1,8,32' },
    batch: { type: 'string', default: '32' },
    json: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    texts: { type: 'string', default: 'chunks,queries' },
    'no-peer': { type: 'boolean', default: false },
  },
});
const N = Number(args.n);
const N_IMAGES = Number(args.images);
const BATCH = Number(args.batch);
const CONC = args.concurrency!.split(',').map(Number);
const ROUNDS = Math.max(1, Number(args.rounds));
const TEXT_SETS = args.texts!.split(',').map((s) => s.trim()) as ('chunks' | 'queries')[];
const SHARED = resolve(process.cwd(), '../shared');
const quiet = { log: () => {} };

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? 0;
}

/** Run `call` over items: groups of `batch`, `concurrency` callers in parallel. Latency is per call. */
async function drive<T>(items: T[], batch: number, concurrency: number, call: (xs: T[]) => Promise<unknown>) {
  const groups: T[][] = [];
  for (let i = 0; i < items.length; i += batch) groups.push(items.slice(i, i + batch));
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < groups.length) {
        const g = groups[next++]!;
        const s = performance.now();
        await call(g);
        lat.push(performance.now() - s);
      }
    }),
  );
  const wall = performance.now() - t0;
  return { items: items.length, itemsPerSecond: (items.length / wall) * 1000, p50Ms: pct(lat, 50), p99Ms: pct(lat, 99) };
}

function sciFactTexts(n: number): string[] {
  const lines = readFileSync(join(SHARED, 'data/scifact/corpus.jsonl'), 'utf8').split('\n').filter(Boolean);
  // Title + the start of the abstract: 20-120 tokens, a typical chunk-to-query length mix.
  return lines.slice(0, n).map((l, i) => {
    const d = JSON.parse(l) as { title: string; text: string };
    return `${d.title} ${d.text}`.slice(0, 80 + ((i * 37) % 500));
  });
}

/** SciFact queries (claims): short, like what concurrent search callers embed. */
function sciFactQueries(n: number): string[] {
  const lines = readFileSync(join(SHARED, 'data/scifact/queries.jsonl'), 'utf8').split('\n').filter(Boolean);
  return lines.slice(0, n).map((l) => (JSON.parse(l) as { text: string }).text);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function cocoBytes(n: number): Buffer[] {
  const files: string[] = [];
  for (const sub of ['train2017', 'val2017']) {
    const dir = join(SHARED, 'data/coco-mini', sub);
    for (const f of readdirSync(dir).sort()) if (f.endsWith('.jpg')) files.push(join(dir, f));
  }
  return Array.from({ length: n }, (_, i) => readFileSync(files[i % files.length]!));
}

async function peerText(dir: string) {
  const t = await import('@huggingface/transformers');
  t.env.allowRemoteModels = false;
  t.env.localModelPath = `${dirname(dir)}/`;
  const ex = await t.pipeline('feature-extraction', dir.split('/').pop()!, { dtype: 'fp32' });
  return (xs: string[]) => ex(xs, { pooling: 'mean', normalize: true });
}

async function peerImage(dir: string) {
  const t = await import('@huggingface/transformers');
  t.env.allowRemoteModels = false;
  t.env.localModelPath = `${dirname(dir)}/`;
  const id = dir.split('/').pop()!;
  const processor = await t.AutoProcessor.from_pretrained(id);
  const vision = await t.CLIPVisionModelWithProjection.from_pretrained(id, { dtype: 'fp32' });
  return async (xs: Buffer[]) => {
    const imgs = await Promise.all(xs.map((b) => t.RawImage.fromBlob(new Blob([new Uint8Array(b)]))));
    return vision(await processor(imgs));
  };
}

async function benchModel(tag: string, on: EmbeddingService, off: EmbeddingService, out: Result[]): Promise<void> {
  const mOn = await on.model(tag);
  const mOff = await off.model(tag);
  const name = mOn.tag;
  const isClip = mOn.manifest.kind === 'clip';
  const input: 'text' | 'image' = isClip ? 'image' : 'text';
  const push = (r: Omit<Result, 'model' | 'input'>) => {
    const row = { model: name, input, ...(textSet ? { texts: textSet } : {}), ...r };
    out.push(row);
    console.log(
      `${name.padEnd(34)} ${input.padEnd(5)} ${r.engine.padEnd(15)} batch ${String(r.batchSize).padStart(2)} conc ${String(r.concurrency).padStart(2)} ` +
        `batching ${r.batching ? 'on ' : 'off'}  ${r.itemsPerSecond.toFixed(1).padStart(8)} items/s  p50 ${r.p50Ms.toFixed(1).padStart(7)} ms  p99 ${r.p99Ms.toFixed(1).padStart(7)} ms` +
        (r.meanBatch ? `  (mean batch ${r.meanBatch.toFixed(1)}` : '') +
        (r.paddingFactor ? `, padding x${r.paddingFactor.toFixed(2)}` : '') +
        (r.sessionBusy ? `, busy ${(r.sessionBusy * 100).toFixed(0)}%` : '') +
        (r.meanBatch ? ')' : '') +
        (r.onOffRatio ? `  vs ${r.batchSize > 1 ? 'transformers.js' : 'off'} ${r.onOffRatio.toFixed(2)}x (median of ${r.rounds} rounds)` : '') +
        (textSet ? `  [${textSet}]` : ''),
    );
  };

  let peer: ((xs: never[]) => Promise<unknown>) | null = null;
  if (!args['no-peer']) {
    try {
      const dir = (await on.registry.resolve(name, { verify: false })).dir;
      peer = (isClip ? await peerImage(dir) : await peerText(dir)) as (xs: never[]) => Promise<unknown>;
    } catch (err) {
      console.log(`${name}: transformers.js cannot load this model (${(err as Error).message.split('\n')[0]}); Trellis only`);
    }
  }

  let textSet: 'chunks' | 'queries' | undefined;
  for (const set of isClip ? [undefined] : TEXT_SETS) {
    textSet = set;
    const items: (string | Buffer)[] = isClip ? cocoBytes(N_IMAGES) : set === 'queries' ? sciFactQueries(N) : sciFactTexts(N);
    await benchItems(items);
  }

  async function benchItems(items: (string | Buffer)[]): Promise<void> {
  const realTokens = isClip ? 0 : items.reduce((a: number, t) => a + mOn.text.tokenizer.encode(t as string).ids.length, 0);
  const trellisCall = (m: EmbeddingModel) => (xs: (string | Buffer)[]) =>
    isClip ? m.embedImages(xs as Buffer[]) : m.embedTexts(xs as string[]);
  // Warm-up: first runs allocate arenas and pick kernels.
  await trellisCall(mOn)(items.slice(0, BATCH));
  await trellisCall(mOff)(items.slice(0, 2));
  if (peer) await peer(items.slice(0, BATCH) as never[]);

  const snap = (m: EmbeddingModel) => m.metrics()[isClip ? 1 : 0]!;
  /** One pass over the items through Trellis, with what the batcher did during it. */
  const pass = async (m: EmbeddingModel, batch: number, conc: number) => {
    const a = snap(m);
    const r = await drive(items, batch, conc, trellisCall(m));
    const b = snap(m);
    const sizes: Record<number, number> = {};
    for (const [k, v] of Object.entries(b.batchSizes)) {
      const d = v - (a.batchSizes[Number(k)] ?? 0);
      if (d > 0) sizes[Number(k)] = d;
    }
    const wall = (r.items / r.itemsPerSecond) * 1000;
    return {
      ...r,
      batches: b.batches - a.batches,
      completed: b.completed - a.completed,
      sizes,
      padded: b.paddedTokens.sum - a.paddedTokens.sum,
      busy: (b.inferenceMs.sum - a.inferenceMs.sum) / wall,
    };
  };
  type Pass = Awaited<ReturnType<typeof pass>>;
  const summarizePasses = (ps: Pass[], batch: number, conc: number, batching: boolean, ratio?: number): Omit<Result, 'model' | 'input'> => {
    const sizes: Record<number, number> = {};
    for (const p of ps) for (const [k, v] of Object.entries(p.sizes)) sizes[Number(k)] = (sizes[Number(k)] ?? 0) + v;
    const batches = ps.reduce((a, p) => a + p.batches, 0);
    const completed = ps.reduce((a, p) => a + p.completed, 0);
    return {
      engine: 'trellis',
      batchSize: batch,
      concurrency: conc,
      batching,
      items: ps[0]!.items,
      itemsPerSecond: median(ps.map((p) => p.itemsPerSecond)),
      p50Ms: median(ps.map((p) => p.p50Ms)),
      p99Ms: median(ps.map((p) => p.p99Ms)),
      meanBatch: completed / Math.max(1, batches),
      batchSizes: sizes,
      ...(isClip ? {} : { paddingFactor: ps.reduce((a, p) => a + p.padded, 0) / (realTokens * ps.length) }),
      sessionBusy: median(ps.map((p) => p.busy)),
      rounds: ps.length,
      ...(ratio !== undefined ? { onOffRatio: ratio } : {}),
    };
  };

  // Batch B at concurrency 1: Trellis and transformers.js in alternating rounds too (medians).
  const tb: Pass[] = [];
  const pb: Awaited<ReturnType<typeof drive>>[] = [];
  for (let r = 0; r < (peer ? ROUNDS : 1); r++) {
    tb.push(await pass(mOn, BATCH, 1));
    if (peer) pb.push(await drive(items, BATCH, 1, peer as (xs: unknown[]) => Promise<unknown>));
  }
  push(summarizePasses(tb, BATCH, 1, true, peer ? median(tb.map((t, i) => t.itemsPerSecond / pb[i]!.itemsPerSecond)) : undefined));
  if (peer) {
    const med = (k: 'itemsPerSecond' | 'p50Ms' | 'p99Ms') => median(pb.map((x) => x[k]));
    push({ engine: 'transformers.js', batchSize: BATCH, concurrency: 1, batching: true, items: pb[0]!.items, itemsPerSecond: med('itemsPerSecond'), p50Ms: med('p50Ms'), p99Ms: med('p99Ms'), rounds: pb.length });
  }
  for (const c of CONC) {
    // Alternate on and off (and which goes first) so both see the same neighbours' load.
    const on: Pass[] = [];
    const off: Pass[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2 === 0) {
        on.push(await pass(mOn, 1, c));
        off.push(await pass(mOff, 1, c));
      } else {
        off.push(await pass(mOff, 1, c));
        on.push(await pass(mOn, 1, c));
      }
    }
    push(summarizePasses(on, 1, c, true, median(on.map((p, i) => p.itemsPerSecond / off[i]!.itemsPerSecond))));
    push(summarizePasses(off, 1, c, false));
    if (peer) push({ engine: 'transformers.js', batchSize: 1, concurrency: c, batching: false, ...(await drive(items, 1, c, peer as (xs: unknown[]) => Promise<unknown>)) });
  }
  }
}

function summarize(results: Result[], maxLatencyMs: number): string[] {
  const lines: string[] = [];
  const keys = [...new Set(results.map((r) => `${r.model}\u0000${r.texts ?? ''}`))];
  for (const key of keys) {
    const [m, set] = key.split('\u0000') as [string, string];
    const model = set ? `${m} [${set}]` : m;
    const R = results.filter((r) => r.model === m && (r.texts ?? '') === set);
    const tb = R.find((r) => r.engine === 'trellis' && r.batchSize > 1);
    const pb = R.find((r) => r.engine === 'transformers.js' && r.batchSize > 1);
    if (tb && pb) lines.push(`${model}: batch ${tb.batchSize}, Trellis / transformers.js throughput = ${(tb.onOffRatio ?? tb.itemsPerSecond / pb.itemsPerSecond).toFixed(2)}x (median of ${tb.rounds ?? 1} alternating rounds)`);
    const cmax = Math.max(...R.map((r) => r.concurrency));
    const on = R.find((r) => r.engine === 'trellis' && r.batchSize === 1 && r.concurrency === cmax && r.batching);
    const off = R.find((r) => r.engine === 'trellis' && r.batchSize === 1 && r.concurrency === cmax && !r.batching);
    if (on && off) {
      lines.push(
        `${model}: ${cmax} concurrent single-item callers, batching on / off = ${(on.onOffRatio ?? on.itemsPerSecond / off.itemsPerSecond).toFixed(2)}x ` +
          `(median of ${on.rounds ?? 1} alternating rounds; medians ${on.itemsPerSecond.toFixed(1)} / ${off.itemsPerSecond.toFixed(1)} items/s; mean batch ${on.meanBatch?.toFixed(1)}` +
          (on.paddingFactor ? `, padding x${on.paddingFactor.toFixed(2)})` : ')'),
      );
    }
    const on1 = R.find((r) => r.engine === 'trellis' && r.batchSize === 1 && r.concurrency === 1 && r.batching);
    const off1 = R.find((r) => r.engine === 'trellis' && r.batchSize === 1 && r.concurrency === 1 && !r.batching);
    if (on1 && off1) {
      const ok = on1.p99Ms <= off1.p99Ms + maxLatencyMs;
      lines.push(`${model}: concurrency 1 p99 batching on ${on1.p99Ms.toFixed(1)} ms vs off ${off1.p99Ms.toFixed(1)} ms + maxLatencyMs ${maxLatencyMs} -> ${ok ? 'within' : 'OVER'} bound`);
    }
  }
  return lines;
}

async function main(): Promise<void> {
  const cfg = loadConfig();
  const tags = args.model!.split(',').map((s) => s.trim()).filter(Boolean);
  // Generated models live in a throwaway home; user tags resolve in TRELLIS_HOME.
  const benchHome = join(tmpdir(), 'trellis-bench-home');
  const embed = { ...DEFAULTS.embed, ...cfg.embed };
  const results: Result[] = [];
  console.log(`bench:embed  n=${N} images=${N_IMAGES} batch=${BATCH} concurrency=${CONC.join(',')} rounds=${ROUNDS} texts=${TEXT_SETS.join(',')}  cpus=${cpus().length}  EPs=${embed.executionProviders.join(',')}  intra-op threads=${embed.intraOpThreads || 'default'}  maxLatencyMs=${embed.maxLatencyMs}  (CUDA not measured: no GPU here)`);
  console.log(`run policy (both modes): one model run in flight per session; batching off = each item its own run`);
  for (const tag of tags) {
    const generated = tag === 'minilm-shaped' || tag === 'clip-b32-shaped';
    const home = generated ? benchHome : cfg.home;
    const on = new EmbeddingService({ home, embed }, quiet);
    const off = new EmbeddingService({ home, embed }, { ...quiet, batching: false });
    try {
      let useTag = tag;
      if (generated) {
        const t0 = performance.now();
        const dir = tag === 'minilm-shaped' ? await makeMiniLmShaped() : await makeClipB32Shaped();
        useTag = (await on.registry.importDir(dir, { name: tag, labels: { bench: 'random weights' } })).tag;
        console.log(`${tag}: generated + registered ${useTag} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
      await benchModel(useTag, on, off, results);
    } finally {
      await on.close();
      await off.close();
    }
  }
  const summary = summarize(results, embed.maxLatencyMs);
  console.log(`\n${summary.join('\n')}`);
  if (args.json) {
    writeFileSync(args.json, `${JSON.stringify({ model: tags.join(','), cpus: cpus().length, executionProviders: embed.executionProviders, intraOpThreads: embed.intraOpThreads, maxLatencyMs: embed.maxLatencyMs, rounds: ROUNDS, runPolicy: 'one model run in flight per session, both modes; batching off = maxBatchSize 1', results, summary }, null, 2)}\n`);
    console.log(`wrote ${args.json}`);
  }
}

await main();
