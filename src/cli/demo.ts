import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { ingest } from '../../indexer/ingest.ts';
import { startServer, type RunningServer } from '../api/server.ts';
import { openTrellis, type Trellis } from '../context.ts';
import { createCollection } from './collections.ts';
import { parseIntOption } from './shared.ts';

const DEMO_DOCS = fileURLToPath(new URL('../../data/demo/docs', import.meta.url));
const QUESTION = 'How do I trade recall against speed in the HNSW engine?';

interface DemoFlags {
  once?: boolean;
  question: string;
  port: number;
  host: string;
}

interface AskReply {
  answer: string;
  citations: { n: number; source: string | null; page: number | null; score: number }[];
  timings: Record<string, number>;
}

/**
 * `npm run demo`: ingests the demo corpus (data/demo/docs), starts the HTTP API, asks it a question over HTTP,
 * prints the cited answer and the /docs URL, and keeps serving (`--once` exits after answering).
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('ingest the demo corpus in data/demo, serve it, and answer a question with citations')
    .option('--once', 'exit after answering instead of serving')
    .option('-q, --question <text>', 'what to ask', QUESTION)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (taken: any free port)', parseIntOption('--port', 0), 3000)
    .action(async (o: DemoFlags) => {
      const t = openTrellis({ home: program.opts<{ home?: string }>().home });
      let server: RunningServer | undefined;
      try {
        if (!t.store.getCollection('demo')) await createCollection(t, 'demo', {});
        const s = await ingest(t, { collection: 'demo', paths: [DEMO_DOCS], loader: { textField: 'text', idField: 'id' } });
        console.log(`demo corpus: ${s.files} files, ${s.documents} documents written, ${s.skipped} unchanged, ${s.chunks} chunks in ${t.config.home}`);
        server = await listen(t, o);
        await server.ready;
        const res = await fetch(`${server.url}/v1/collections/demo/ask`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ question: o.question, k: 5 }),
        });
        if (!res.ok) throw new Error(`ask failed: HTTP ${res.status} ${await res.text()}`);
        const reply = (await res.json()) as AskReply;
        console.log(`\nQ: ${o.question}\nA: ${reply.answer}\n`);
        for (const c of reply.citations) console.log(`  [${c.n}] ${c.source ?? '?'}${c.page ? ` p.${c.page}` : ''} (score ${c.score.toFixed(3)})`);
        const ms = Object.entries(reply.timings).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ');
        console.log(`\n(${ms})\nAPI docs: ${server.url}/docs   search: POST ${server.url}/v1/collections/demo/search`);
        if (o.once) return;
        console.log('serving the demo collection (read endpoints open); Ctrl-C to stop');
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
      } finally {
        if (server) await server.close();
        else await t.close();
      }
    });
}

/** The demo's server: public reads on loopback, on the asked port or, when that is taken, any free one. */
async function listen(t: Trellis, o: DemoFlags): Promise<RunningServer> {
  const opts = { host: o.host, public: true, log: (l: string) => process.stderr.write(`${l}\n`) };
  try {
    return await startServer(t, { ...opts, port: o.port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || o.port === 0) throw err;
    console.error(`port ${o.port} is taken; using a free port`);
    return startServer(t, { ...opts, port: 0 });
  }
}
