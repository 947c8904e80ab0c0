import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { ingest } from '../../indexer/ingest.ts';
import { retrieve } from '../rag/retrieve.ts';
import { createCollection } from './collections.ts';
import { withTrellis } from './shared.ts';

const DEMO_DOCS = fileURLToPath(new URL('../../data/demo/docs', import.meta.url));
const QUESTION = 'How do I trade recall against speed?';

/**
 * `trellis demo`: ingests the demo corpus (data/demo) and searches it. The HTTP server and cited answers
 * (issue 5) are not built yet; the demo says so rather than pretending.
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('ingest the demo corpus in data/demo and search it')
    .option('--once', 'exit after answering (the default until the server lands)')
    .option('-q, --question <text>', 'what to ask', QUESTION)
    .action(async (o: { question: string }) =>
      withTrellis(program, async (t) => {
        if (!t.store.getCollection('demo')) await createCollection(t, 'demo', {});
        const s = await ingest(t, { collection: 'demo', paths: [DEMO_DOCS], loader: { textField: 'text', idField: 'id' } });
        console.log(`demo corpus: ${s.files} files, ${s.documents} documents written, ${s.skipped} unchanged, ${s.chunks} chunks (${t.config.home})`);
        const r = await retrieve(t, 'demo', { text: o.question, k: 3, mode: 'hybrid' });
        console.log(`\nQ: ${o.question}\nTop passages (hybrid search):`);
        r.hits.forEach((h, i) => {
          console.log(`[${i + 1}] ${h.metadata.title ?? h.source} (score ${h.score.toFixed(4)})\n    ${h.text.replace(/\s+/g, ' ').slice(0, 240)}...`);
        });
        console.log(
          [
            '',
            'Not built yet: the HTTP API, /docs and cited answers (issue 5). Until then, use the CLI:',
            '  npm run trellis -- search "your question" -c demo --mode hybrid',
            '  npm run trellis -- ingest PATH... -c NAME',
          ].join('\n'),
        );
      }),
    );
}
