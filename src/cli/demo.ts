import type { Command } from 'commander';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('ingest the demo corpus, serve it, and answer a question (not built yet)')
    .option('--once', 'exit after answering instead of serving')
    .action(() => {
      console.log(
        [
          'The end-to-end demo is not built yet: it needs ingestion and the HTTP API (issues 4 and 5).',
          'What works today:',
          '  npm run bench:ann -- --dataset ../shared/data/siftsmall   # the HNSW engine against hnswlib-node',
          '  npm test                                                   # the test suite',
        ].join('\n'),
      );
    });
}
