import type { TrellisConfig } from '../config.ts';
import type { BatcherMetrics } from './metrics.ts';
import { EmbeddingModel, type EmbedCallOptions, type EmbedResult } from './model.ts';
import { runnerOptionsFromConfig, type RunnerOptions } from './options.ts';
import { ModelRegistry } from './registry.ts';

/**
 * The embedding layer's front door: resolves tags through the registry, loads each model version once (sha256
 * checked at load), and hands out vectors. Concurrent callers share one session + batcher per model version.
 */
export class EmbeddingService {
  readonly registry: ModelRegistry;
  private readonly loaded = new Map<string, Promise<EmbeddingModel>>();
  private readonly opts: RunnerOptions;
  private readonly defaultTag: string;

  constructor(config: Pick<TrellisConfig, 'home' | 'embed'>, extra: Partial<RunnerOptions> = {}) {
    this.registry = new ModelRegistry(config.home);
    this.opts = runnerOptionsFromConfig(config.embed, extra);
    this.defaultTag = config.embed.defaultTextModel;
  }

  /** Load (or reuse) the model a tag points at. `name` follows the newest version at each call. */
  async model(tag: string = this.defaultTag): Promise<EmbeddingModel> {
    const { tag: exact } = await this.registry.resolve(tag, { verify: false });
    let p = this.loaded.get(exact);
    if (!p) {
      p = this.registry.resolve(exact).then((r) => EmbeddingModel.load(r, this.opts));
      this.loaded.set(exact, p);
      p.catch(() => this.loaded.delete(exact));
    }
    return p;
  }

  async embedTexts(texts: readonly (string | Uint8Array)[], opts: EmbedCallOptions & { model?: string } = {}): Promise<EmbedResult> {
    return (await this.model(opts.model)).embedTexts(texts, opts);
  }

  async embedImages(images: readonly Uint8Array[], opts: EmbedCallOptions & { model?: string } = {}): Promise<EmbedResult> {
    return (await this.model(opts.model)).embedImages(images, opts);
  }

  /** Batcher metrics of every loaded model, as plain data. */
  async metrics(): Promise<BatcherMetrics[]> {
    const out: BatcherMetrics[] = [];
    for (const p of this.loaded.values()) {
      try {
        out.push(...(await p).metrics());
      } catch {
        // a model that failed to load has no metrics
      }
    }
    return out;
  }

  async close(): Promise<void> {
    const all = [...this.loaded.values()];
    this.loaded.clear();
    for (const p of all) {
      try {
        await (await p).close();
      } catch {
        // already failed to load
      }
    }
  }
}
