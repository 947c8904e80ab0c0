import type { Command } from 'commander';
import { openHomeStore, parseDuration, TokenStore, tokenStatus, type TokenRecord } from '../store/index.ts';
import { loadConfig } from '../config.ts';
import { printTable } from './shared.ts';

/** Opens only the store (tokens need no models or indexes). */
function withTokens<T>(program: Command, fn: (tokens: TokenStore) => T): T {
  const store = openHomeStore(loadConfig({ home: program.opts<{ home?: string }>().home }));
  try {
    return fn(new TokenStore(store));
  } finally {
    store.close();
  }
}

/** `trellis tokens create|list|revoke`: API tokens for `Authorization: Bearer`. */
export function registerTokensCommands(program: Command): void {
  const cmd = program.command('tokens').description('create, list and revoke API tokens (stored hashed; shown once)');

  cmd
    .command('create')
    .requiredOption('--name <name>', 'a name for the token, unique among active tokens')
    .requiredOption('--scope <scope>', 'read | write | admin (admin ⊇ write ⊇ read)')
    .option('--expires <duration>', 'lifetime, e.g. 30d, 12h, 90m (default: never expires)')
    .option('--json', 'print JSON: { token, record }')
    .description('create a token and print it once')
    .action((o: { name: string; scope: string; expires?: string; json?: boolean }) =>
      withTokens(program, (tokens) => {
        const expiresInMs = o.expires === undefined ? undefined : parseDuration(o.expires);
        const { token, record } = tokens.create({ name: o.name, scope: o.scope as TokenRecord['scope'], expiresInMs });
        if (o.json) return console.log(JSON.stringify({ token, record }, null, 2));
        console.log(token);
        console.error(
          `created token "${record.name}" (${record.id}, scope ${record.scope}, ${record.expiresAt ? `expires ${record.expiresAt}` : 'never expires'}).\n` +
            'This is the only time it is shown: store it now. Use it as "Authorization: Bearer <token>".',
        );
      }),
    );

  cmd
    .command('list')
    .option('--json', 'print JSON')
    .description('list tokens (never their secrets)')
    .action((o: { json?: boolean }) =>
      withTokens(program, (tokens) => {
        const all = tokens.list();
        if (o.json) return console.log(JSON.stringify(all.map((r) => ({ ...r, status: tokenStatus(r) })), null, 2));
        printTable(
          ['ID', 'NAME', 'SCOPE', 'PREFIX', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED'],
          all.map((r) => [r.id, r.name, r.scope, r.prefix + '…', tokenStatus(r), r.createdAt, r.expiresAt ?? 'never', r.lastUsedAt ?? '-']),
        );
      }),
    );

  cmd
    .command('revoke')
    .argument('<name-or-id>', 'the token id (tok_…) or the name of an active token')
    .description('revoke a token: it is refused from then on')
    .action((idOrName: string) =>
      withTokens(program, (tokens) => {
        if (!tokens.revoke(idOrName)) throw new Error(`no active token with id or name "${idOrName}"`);
        console.log(`revoked token ${idOrName}`);
      }),
    );
}
