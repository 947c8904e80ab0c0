import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { ModelRegistry, type ModelKind, type ModelManifest } from '../embed/index.ts';

/** `trellis models ...`: thin wrappers over ModelRegistry (src/embed/registry.ts). */
export function registerModelsCommands(program: Command): void {
  const registry = (): ModelRegistry => new ModelRegistry(loadConfig({ home: program.opts<{ home?: string }>().home }).home);
  const models = program.command('models').description('the model store: import, list, inspect, delete, export ONNX embedding models');

  models
    .command('import')
    .argument('<source>', 'a model folder (Hugging Face layout: config.json, tokenizer.json, onnx/*.onnx) or a FILE.tar from `models export`')
    .option('--name <name>', 'model name (required for a folder)')
    .option('--kind <kind>', 'text | clip (default: detected from the folder)')
    .option('--pooling <pooling>', 'mean | cls, for graphs that output token states (default: 1_Pooling/config.json, else mean)')
    .option('--max-tokens <n>', 'max tokens per text (default: from config.json / tokenizer_config.json)')
    .option('--label <key=value...>', 'labels recorded in model.json')
    .description('register a model; prints the new tag')
    .action(async (source: string, o: { name?: string; kind?: string; pooling?: string; maxTokens?: string; label?: string[] }) => {
      const reg = registry();
      const isFile = statSync(source, { throwIfNoEntry: false })?.isFile() ?? false;
      let m: ModelManifest;
      if (isFile) {
        m = (await reg.importTar(source)).manifest;
      } else {
        if (!o.name) throw new Error('--name is required when importing a folder');
        if (o.kind && o.kind !== 'text' && o.kind !== 'clip') throw new Error(`--kind must be text or clip, got "${o.kind}"`);
        if (o.pooling && o.pooling !== 'mean' && o.pooling !== 'cls') throw new Error(`--pooling must be mean or cls, got "${o.pooling}"`);
        const maxTokens = o.maxTokens === undefined ? undefined : Number(o.maxTokens);
        if (maxTokens !== undefined && !(Number.isInteger(maxTokens) && maxTokens > 0)) throw new Error('--max-tokens must be a positive integer');
        const labels = Object.fromEntries((o.label ?? []).map((kv) => [kv.split('=')[0]!, kv.split('=').slice(1).join('=')]));
        m = (
          await reg.importDir(source, {
            name: o.name,
            kind: o.kind as ModelKind | undefined,
            pooling: o.pooling as 'mean' | 'cls' | undefined,
            maxTokens,
            labels,
          })
        ).manifest;
      }
      console.log(`imported ${m.name}:${m.version} (${m.kind}, dim ${m.dimension}, max tokens ${m.maxTokens}, pooling ${m.pooling})`);
    });

  models
    .command('list')
    .option('--json', 'print JSON')
    .description('list registered models, newest version first')
    .action(async (o: { json?: boolean }) => {
      const all = await registry().list();
      if (o.json) {
        console.log(JSON.stringify(all, null, 2));
        return;
      }
      const rows = all.map((m) => [`${m.name}:${m.version}`, m.kind, String(m.dimension), String(m.maxTokens), m.pooling, mb(m), m.createdAt]);
      printTable(['TAG', 'KIND', 'DIM', 'MAX TOKENS', 'POOLING', 'SIZE', 'CREATED'], rows);
    });

  models
    .command('get')
    .argument('<tag>', 'name, name:latest or name:version')
    .description('print a model.json (after checking every file against its sha256)')
    .action(async (tag: string) => {
      const r = await registry().resolve(tag);
      console.log(JSON.stringify({ ...r.manifest, path: r.dir }, null, 2));
    });

  models
    .command('delete')
    .argument('<tag>', 'name:version (name alone deletes the newest version)')
    .description('delete one model version')
    .action(async (tag: string) => {
      const m = await registry().delete(tag);
      console.log(`deleted ${m.name}:${m.version}`);
    });

  models
    .command('export')
    .argument('<tag>')
    .argument('<file>', 'FILE.tar to write')
    .description('write a model version to a tar archive (import it elsewhere with `models import FILE.tar`)')
    .action(async (tag: string, file: string) => {
      const r = await registry().exportTar(tag, file);
      console.log(`exported ${r.tag} to ${file}`);
    });
}

function mb(m: ModelManifest): string {
  return `${(m.files.reduce((s, f) => s + f.bytes, 0) / 1e6).toFixed(1)} MB`;
}

function printTable(head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd());
}
