import type { Command } from 'commander';
import type { Metric } from '../engine/types.ts';
import type { BackendName } from '../index/types.ts';
import type { CollectionKind } from '../store/index.ts';
import { parseIntOption, printTable, withTrellis } from './shared.ts';

interface CreateFlags {
  model?: string;
  kind?: string;
  metric?: string;
  m?: number;
  efConstruction?: number;
  efSearch?: number;
  backend?: string;
}

/** `trellis collections create|list|stats|delete`. */
export function registerCollectionsCommands(program: Command): void {
  const cmd = program.command('collections').description('create, list, inspect and delete collections');

  cmd
    .command('create')
    .argument('<name>', 'collection name (letters, digits, _ and -)')
    .option('--model <tag>', 'embedding model tag (default: the configured text model)')
    .option('--kind <kind>', 'text | image (image needs a CLIP model)', 'text')
    .option('--metric <metric>', 'cosine | ip | l2', 'cosine')
    .option('--m <n>', 'HNSW links per node', parseIntOption('--m', 2))
    .option('--ef-construction <n>', 'HNSW build beam width', parseIntOption('--ef-construction', 1))
    .option('--ef-search <n>', 'default HNSW search beam width', parseIntOption('--ef-search', 1))
    .option('--backend <name>', 'trellis | hnswlib | flat | pinecone (PINECONE_INDEX_HOST, PINECONE_API_KEY)', 'trellis')
    .description('create an empty collection; the dimension comes from the model')
    .action(async (name: string, o: CreateFlags) =>
      withTrellis(program, async (t) => {
        const c = await createCollection(t, name, o);
        console.log(`created collection ${c.name} (${c.kind}, model ${c.model}, dim ${c.dim}, ${c.metric}, m=${c.m}, efConstruction=${c.efConstruction}, efSearch=${c.efSearch}, ${c.backend})`);
      }),
    );

  cmd
    .command('list')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) =>
      withTrellis(program, async (t) => {
        const all = t.store.listCollections();
        if (o.json) return console.log(JSON.stringify(all, null, 2));
        printTable(
          ['NAME', 'KIND', 'MODEL', 'DIM', 'METRIC', 'BACKEND', 'DOCUMENTS', 'CHUNKS'],
          all.map((c) => {
            const n = t.store.counts(c.name);
            return [c.name, c.kind, c.model, String(c.dim), c.metric, c.backend, String(n.documents), String(n.chunks)];
          }),
        );
      }),
    );

  cmd
    .command('stats')
    .argument('<name>')
    .option('--json', 'print JSON: { documents, chunks, vectors, indexed, ... }')
    .description('counts, index parameters and index health')
    .action(async (name: string, o: { json?: boolean }) =>
      withTrellis(program, async (t) => {
        const c = t.store.requireCollection(name);
        const counts = await t.indexes.stats(name);
        const index = await (await t.indexes.index(name)).stats();
        const out = { ...counts, collection: c.name, kind: c.kind, model: c.model, dim: c.dim, metric: c.metric, backend: c.backend, m: c.m, efConstruction: c.efConstruction, efSearch: c.efSearch, indexBytes: index.bytes };
        if (o.json) return console.log(JSON.stringify(out, null, 2));
        for (const [k, v] of Object.entries(out)) console.log(`${k.padEnd(15)} ${v}`);
      }),
    );

  cmd
    .command('delete')
    .argument('<name>')
    .description('delete a collection with its documents, chunks and index files')
    .action(async (name: string) =>
      withTrellis(program, async (t) => {
        if (!(await t.indexes.deleteCollection(name))) throw new Error(`no collection named "${name}"`);
        console.log(`deleted collection ${name}`);
      }),
    );
}

export async function createCollection(t: import('../context.ts').Trellis, name: string, o: CreateFlags) {
  const kind = o.kind ?? 'text';
  if (kind !== 'text' && kind !== 'image') throw new Error(`--kind must be text or image, got "${kind}"`);
  const model = await t.embed.model(o.model ?? t.config.embed.defaultTextModel);
  if (kind === 'image' && model.manifest.kind !== 'clip') throw new Error(`an image collection needs a CLIP model; ${model.tag} is a ${model.manifest.kind} model`);
  return t.indexes.createCollection({
    name,
    kind: kind as CollectionKind,
    model: model.tag,
    dim: model.dimension,
    metric: (o.metric ?? 'cosine') as Metric,
    m: o.m,
    efConstruction: o.efConstruction,
    efSearch: o.efSearch,
    backend: (o.backend ?? 'trellis') as BackendName,
  });
}
