import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type ConfigOverrides, type TrellisConfig } from './config.ts';
import { EmbeddingService, type EmbeddingModel } from './embed/index.ts';
import { IndexManager, openHomeStore, type Collection, type Logger, type Store } from './store/index.ts';

/**
 * Everything a Trellis process holds open: the config, the SQLite store, the collections' indexes and the
 * embedding service. The CLI and the HTTP API both work through one of these, so they behave the same.
 */
export interface Trellis {
  config: TrellisConfig;
  store: Store;
  indexes: IndexManager;
  embed: EmbeddingService;
  /** The embedding model a collection was created with (loaded once, shared). */
  modelFor(collection: Collection | string): Promise<EmbeddingModel>;
  close(): Promise<void>;
}

export function openTrellis(overrides: ConfigOverrides = {}, opts: { log?: Logger } = {}): Trellis {
  const config = loadConfig(overrides);
  mkdirSync(config.home, { recursive: true });
  mkdirSync(join(config.home, 'indexes'), { recursive: true });
  const store = openHomeStore(config);
  const indexes = new IndexManager(store, { log: opts.log });
  const embed = new EmbeddingService(config);
  let closed = false;
  return {
    config,
    store,
    indexes,
    embed,
    modelFor: (collection) => {
      const c = typeof collection === 'string' ? store.requireCollection(collection) : collection;
      return embed.model(c.model);
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await indexes.close();
      } finally {
        await embed.close();
        store.close();
      }
    },
  };
}
