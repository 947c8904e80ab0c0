import type { Command } from 'commander';
import { ask, askStream } from '../rag/ask.ts';
import type { AskRequest, AskResponse } from '../rag/types.ts';
import type { SearchMode } from '../store/index.ts';
import { parseIntOption, parseJsonOption, withTrellis } from './shared.ts';

interface AskFlags {
  collection: string;
  k: number;
  filter?: unknown;
  mode?: string;
  ef?: number;
  maxContextTokens?: number;
  provider?: string;
  stream?: boolean;
  json?: boolean;
}

/** `trellis ask "question" -c C`: a cited answer from one collection (docs/rag.md). */
export function registerAskCommand(program: Command): void {
  program
    .command('ask')
    .description('answer a question from a collection, with numbered citations')
    .argument('<question>', 'the question')
    .requiredOption('-c, --collection <name>', 'collection to ask')
    .option('-k, --k <n>', 'sources to retrieve', parseIntOption('--k', 1), 5)
    .option('--filter <json>', 'metadata filter for retrieval', parseJsonOption('--filter'))
    .option('--mode <mode>', 'retrieval: vector | keyword | hybrid (default hybrid; vector on image collections)')
    .option('--ef <n>', 'HNSW beam width for this query', parseIntOption('--ef', 1))
    .option('--max-context-tokens <n>', 'token budget for the sources', parseIntOption('--max-context-tokens', 32))
    .option('--provider <name>', 'extractive | openai-compatible | local (default: config rag.provider)')
    .option('--stream', 'print the answer as it is generated')
    .option('--json', 'print the whole response as JSON')
    .action(async (question: string, o: AskFlags) =>
      withTrellis(program, async (t) => {
        if (o.mode !== undefined && !['vector', 'keyword', 'hybrid'].includes(o.mode)) throw new Error(`--mode must be vector, keyword or hybrid, got "${o.mode}"`);
        const req: AskRequest = { question, k: o.k, filter: o.filter, mode: o.mode as SearchMode | undefined, efSearch: o.ef, maxContextTokens: o.maxContextTokens, provider: o.provider };
        let r: AskResponse | undefined;
        if (o.stream && !o.json) {
          for await (const e of askStream(t, o.collection, req)) {
            if (e.type === 'token') process.stdout.write(e.text);
            else if (e.type === 'done') r = e.response;
          }
          process.stdout.write('\n');
        } else {
          r = await ask(t, o.collection, req);
          if (o.json) return console.log(JSON.stringify(r, null, 2));
          console.log(r.answer);
        }
        printCitations(r!);
      }),
    );
}

function printCitations(r: AskResponse): void {
  if (r.refused) console.log(`\n(refused by the safety gate: ${r.refused.reason})`);
  if (r.citations.length > 0) {
    console.log('\nSources:');
    for (const c of r.citations) console.log(`[${c.n}] ${c.source ?? c.id}${c.page ? ` p.${c.page}` : ''}  (score ${c.score.toFixed(4)})`);
  }
  const steps = r.steps.map((s) => `${s.name} ${s.ms.toFixed(1)} ms`).join(', ');
  console.error(`(${r.provider}; ${steps}; total ${r.timings.totalMs.toFixed(1)} ms)`);
}
