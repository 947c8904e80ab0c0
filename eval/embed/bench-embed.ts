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
  /** Trellis only: mean items per model run (from the batcher metrics). */
  meanBatch?: number;
}

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'minilm-shaped,trellis-static-wp256,clip-b32-shaped' },
    n: { type: 'string', default: '256' },
    images: { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '1,8,32' },
    batch: { type: 'string', default: '32' },
    json: { type: 'string' },
    'no-peer': { type: 'boolean', default: false },
  },
});
const N = Number(args.n);
const N_IMAGES = Number(args.images);
const BATCH = Number(args.batch);
const CONC = args.concurrency!.split(',').map(Number);
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
    const row = { model: name, input, ...r };
    out.push(row);
    console.log(
      `${name.padEnd(34)} ${input.padEnd(5)} ${r.engine.padEnd(15)} batch ${String(r.batchSize).padStart(2)} conc ${String(r.concurrency).padStart(2)} ` +
        `batching ${r.batching ? 'on ' : 'off'}  ${r.itemsPerSecond.toFixed(1).padStart(8)} items/s  p50 ${r.p50Ms.toFixed(1).padStart(7)} ms  p99 ${r.p99Ms.toFixed(1).padStart(7)} ms` +
        (r.meanBatch ? `  (mean batch ${r.meanBatch.toFixed(1)})` : ''),
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

  const items: (string | Buffer)[] = isClip ? cocoBytes(N_IMAGES) : sciFactTexts(N);
  const trellisCall = (m: EmbeddingModel) => (xs: (string | Buffer)[]) =>
    isClip ? m.embedImages(xs as Buffer[]) : m.embedTexts(xs as string[]);
  // Warm-up: first runs allocate arenas and pick kernels.
  await trellisCall(mOn)(items.slice(0, BATCH));
  await trellisCall(mOff)(items.slice(0, 2));
  if (peer) await peer(items.slice(0, BATCH) as never[]);

  const before = (m: EmbeddingModel) => ({ b: m.metrics()[isClip ? 1 : 0]!.batches, c: m.metrics()[isClip ? 1 : 0]!.completed });
  const measure = async (m: EmbeddingModel, batch: number, conc: number, batching: boolean) => {
    const b0 = before(m);
    const r = await drive(items, batch, conc, trellisCall(m));
    const b1 = before(m);
    push({ engine: 'trellis', batchSize: batch, concurrency: conc, batching, ...r, meanBatch: (b1.c - b0.c) / Math.max(1, b1.b - b0.b) });
  };

  await measure(mOn, BATCH, 1, true);
  if (peer) push({ engine: 'transformers.js', batchSize: BATCH, concurrency: 1, batching: true, ...(await drive(items, BATCH, 1, peer as (xs: unknown[]) => Promise<unknown>)) });
  for (const c of CONC) {
    await measure(mOn, 1, c, true);
    await measure(mOff, 1, c, false);
    if (peer) push({ engine: 'transformers.js', batchSize: 1, concurrency: c, batching: false, ...(await drive(items, 1, c, peer as (xs: unknown[]) => Promise<unknown>)) });
  }
}

function summarize(results: Result[], maxLatencyMs: number): string[] {
  const lines: string[] = [];
  for (const model of [...new Set(results.map((r) => r.model))]) {
    const R = results.filter((r) => r.model === model);
    const tb = R.find((r) => r.engine === 'trellis' && r.batchSize > 1);
    const pb = R.find((r) => r.engine === 'transformers.js' && r.batchSize > 1);
    if (tb && pb) lines.push(`${model}: batch ${tb.batchSize}, Trellis / transformers.js throughput = ${(tb.itemsPerSecond / pb.itemsPerSecond).toFixed(2)}x`);
    const cmax = Math.max(...R.map((r) => r.concurrency));
    const on = R.find((r) => r.engine === 'trellis' && r.batchSize === 1 && r.concurrency === cmax && r.batching);
    const off = R.find((r) => r.engine === 'trellis' && r.batchSize === 1 && r.concurrency === cmax && !r.batching);
    if (on && off) lines.push(`${model}: ${cmax} concurrent single-item callers, batching on / off = ${(on.itemsPerSecond / off.itemsPerSecond).toFixed(2)}x`);
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
  console.log(`bench:embed  n=${N} images=${N_IMAGES} batch=${BATCH} concurrency=${CONC.join(',')}  cpus=${cpus().length}  EPs=${embed.executionProviders.join(',')}  maxLatencyMs=${embed.maxLatencyMs}  (CUDA not measured: no GPU here)`);
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
    writeFileSync(args.json, `${JSON.stringify({ model: tags.join(','), cpus: cpus().length, executionProviders: embed.executionProviders, maxLatencyMs: embed.maxLatencyMs, results, summary }, null, 2)}\n`);
    console.log(`wrote ${args.json}`);
  }
}

await main();
