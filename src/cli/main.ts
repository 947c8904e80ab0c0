import { Command, CommanderError } from 'commander';
import { registerAskCommand } from './ask.ts';
import { registerCollectionsCommands } from './collections.ts';
import { registerDemoCommand } from './demo.ts';
import { registerIngestCommand } from './ingest.ts';
import { registerJobsCommands } from './jobs.ts';
import { registerModelsCommands } from './models.ts';
import { registerSearchCommand } from './search.ts';
import { registerServeCommand } from './serve.ts';
import { registerTokensCommands } from './tokens.ts';

/** Builds the `trellis` command tree. Each layer registers its own subcommands; this file only wires them. */
export function buildProgram(): Command {
  const program = new Command('trellis')
    .description('Trellis: self-hosted vector search and RAG')
    .option('--home <dir>', 'state folder (default: $TRELLIS_HOME or ./.trellis)')
    .showHelpAfterError();
  registerDemoCommand(program);
  registerModelsCommands(program);
  registerCollectionsCommands(program);
  registerIngestCommand(program);
  registerSearchCommand(program);
  registerAskCommand(program);
  registerServeCommand(program);
  registerTokensCommands(program);
  registerJobsCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    console.error(`trellis: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
