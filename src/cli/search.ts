import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { retrieve } from '../rag/retrieve.ts';
import type { SearchMode } from '../store/index.ts';
import { parseIntOption, parseJsonOption, withTrellis } from './shared.ts';

interface SearchFlags {
  collection: string;
  k: number;
  filter?: unknown;
  ef?: number;
  mode: string;
  image?: string;
  json?: boolean;
}

/** `trellis search "text" -c C` and `trellis search --image FILE -c C`. */
export function registerSearchCommand(program: Command): void {
  program
    .command('search')
    .argument('[text]', 'query text (on an image collection: text-to-image search)')
    .requiredOption('-c, --collection <name>', 'collection to search')
    .option('-k, --k <n>', 'results', parseIntOption('--k', 1), 10)
    .option('--filter <json>', 'metadata filter, e.g. \'{"type": "pdf", "page": {"$lte": 3}}\'', parseJsonOption('--filter'))
    .option('--ef <n>', 'HNSW beam width for this query', parseIntOption('--ef', 1))
    .option('--mode <mode>', 'vector | keyword | hybrid', 'vector')
    .option('--image <file>', 'image-to-image search with this image')
    .option('--json', 'print JSON')
    .action(async (text: string | undefined, o: SearchFlags) =>
      withTrellis(program, async (t) => {
        if ((text === undefined) === (o.image === undefined)) throw new Error('give either query text or --image FILE');
        if (!['vector', 'keyword', 'hybrid'].includes(o.mode)) throw new Error(`--mode must be vector, keyword or hybrid, got "${o.mode}"`);
        const image = o.image !== undefined ? readFileSync(o.image) : undefined;
        const r = await retrieve(t, o.collection, { text, image, k: o.k, filter: o.filter, efSearch: o.ef, mode: o.mode as SearchMode });
        if (o.json) return console.log(JSON.stringify(r, null, 2));
        r.hits.forEach((h, i) => {
          const where = [h.source, h.page ? `p.${h.page}` : ''].filter(Boolean).join(' ');
          const snippet = h.text.replace(/\s+/g, ' ').slice(0, 160);
          console.log(`${String(i + 1).padStart(2)}. ${h.score.toFixed(4)}  ${where}\n    ${snippet}`);
        });
        console.error(`(${r.hits.length} results, embed ${r.timings.embedMs.toFixed(1)} ms, search ${r.timings.searchMs.toFixed(1)} ms)`);
      }),
    );
}
