import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { ingest, type IngestSummary } from '../../indexer/ingest.ts';
import { createCollection } from './collections.ts';
import { parseIntOption, parseKeyValues, withTrellis } from './shared.ts';

interface IngestFlags {
  collection: string;
  chunkSize: number;
  chunkOverlap: number;
  metadata?: string[];
  textField?: string;
  metadataFields?: string;
  idField?: string;
  prune?: boolean;
  json?: boolean;
  model?: string;
  kind?: string;
  concurrency: number;
}

/** `trellis ingest PATH... --collection C`: thin shell over indexer/ingest.ts. */
export function registerIngestCommand(program: Command): void {
  program
    .command('ingest')
    .argument('<paths...>', 'files or folders (txt, md, html, pdf, json, jsonl, csv; jpg, png, webp, gif for image collections)')
    .requiredOption('-c, --collection <name>', 'target collection (created if missing)')
    .option('--chunk-size <tokens>', 'most model tokens per chunk', parseIntOption('--chunk-size', 8), 256)
    .option('--chunk-overlap <tokens>', 'tokens repeated between neighbouring chunks', parseIntOption('--chunk-overlap', 0), 32)
    .option('--metadata <key=value...>', 'metadata added to every document')
    .option('--text-field <field>', 'json/jsonl/csv: the field holding the text')
    .option('--metadata-fields <a,b,...>', 'json/jsonl/csv: fields kept as metadata (default: all scalar fields)')
    .option('--id-field <field>', 'json/jsonl/csv: field naming each record (default: its row number)')
    .option('--prune', 'delete documents whose files under PATHS no longer exist')
    .option('--model <tag>', 'model for a new collection')
    .option('--kind <kind>', 'text | image, for a new collection')
    .option('--concurrency <n>', 'files in flight', parseIntOption('--concurrency', 1), 4)
    .option('--json', 'print the summary as JSON')
    .description('ingest files: unchanged files are skipped, changed ones replaced; a killed run resumes when rerun')
    .action(async (paths: string[], o: IngestFlags) =>
      withTrellis(program, async (t) => {
        // Refuse a missing path before creating a collection for it.
        for (const p of paths) if (!existsSync(p)) throw new Error(`path ${resolve(p)} does not exist`);
        if (!t.store.getCollection(o.collection)) {
          const c = await createCollection(t, o.collection, { model: o.model, kind: o.kind });
          console.error(`created collection ${c.name} (${c.kind}, model ${c.model}, dim ${c.dim})`);
        }
        const bar = process.stderr.isTTY && !o.json ? new SingleBar({ format: 'ingest |{bar}| {value}/{total} files | {chunks} chunks | {speed} files/s | ETA {eta_formatted}', hideCursor: true }) : null;
        const start = Date.now();
        bar?.start(1, 0, { chunks: 0, speed: '0.0' });
        const summary = await ingest(t, {
          collection: o.collection,
          paths,
          chunking: { chunkSize: o.chunkSize, chunkOverlap: o.chunkOverlap },
          metadata: parseKeyValues(o.metadata),
          loader: { textField: o.textField, metadataFields: o.metadataFields?.split(',').map((s) => s.trim()).filter(Boolean), idField: o.idField },
          prune: o.prune,
          concurrency: o.concurrency,
          onProgress: (p) => {
            bar?.setTotal(p.filesTotal);
            bar?.update(p.filesDone, { chunks: p.chunks, speed: (p.filesDone / Math.max(0.001, (Date.now() - start) / 1000)).toFixed(1) });
          },
        });
        bar?.stop();
        if (o.json) console.log(JSON.stringify(summary, null, 2));
        else printSummary(summary);
        // Exit 2: the run finished, but some files failed (each is listed above).
        if (summary.failed.length > 0) process.exitCode = 2;
      }),
    );
}

function printSummary(s: IngestSummary): void {
  const lines = [
    `collection ${s.collection}: ${s.files} files, ${s.documents} documents written, ${s.chunks} chunks, ${s.skipped} unchanged, ${s.duplicates} duplicates, ${s.failed.length} failed, ${s.pruned} pruned`,
    `${s.seconds.toFixed(1)} s (${s.chunksPerSecond.toFixed(0)} chunks/s, ${s.embedSeconds.toFixed(1)} s embedding)`,
  ];
  if (s.ignored) lines.push(`${s.ignored} files of the other kind (text/image) were left out`);
  if (s.resumedFrom.length) lines.push(`resumed after interrupted run(s) ${s.resumedFrom.join(', ')}`);
  for (const f of s.failed) lines.push(`failed: ${f.path}: ${f.reason}`);
  console.log(lines.join('\n'));
}
