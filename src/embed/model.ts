import { WrongModalityError } from './errors.ts';
import { CLIP_DEFAULT_PREPROCESS } from './image.ts';
import type { ModelManifest } from './manifest.ts';
import type { BatcherMetrics } from './metrics.ts';
import type { RunnerOptions } from './options.ts';
import type { ResolvedModel } from './registry.ts';
import { TextRunner } from './text-runner.ts';
import { VisionRunner } from './vision-runner.ts';

/** Vectors as the rest of Trellis wants them: one Float32Array, row-major, count x dimension. */
export interface EmbedResult {
  model: string;
  dimension: number;
  count: number;
  vectors: Float32Array;
  /** Per text: cut at the model's max tokens. Empty for images. */
  truncated: boolean[];
}

export interface EmbedCallOptions {
  signal?: AbortSignal;
}

/** A loaded model: its text tower and, for CLIP, its vision tower, each with its own session and batcher. */
export class EmbeddingModel {
  private constructor(
    readonly tag: string,
    readonly manifest: ModelManifest,
    readonly text: TextRunner,
    readonly vision: VisionRunner | null,
  ) {}

  static async load(resolved: ResolvedModel, opts: RunnerOptions): Promise<EmbeddingModel> {
    const m = resolved.manifest;
    const text = await TextRunner.create(resolved.tag, resolved.dir, m.graphs.text, m, opts);
    let vision: VisionRunner | null = null;
    try {
      if (m.kind === 'clip' && m.graphs.vision) {
        vision = await VisionRunner.create(resolved.tag, resolved.dir, m.graphs.vision, m.image ?? CLIP_DEFAULT_PREPROCESS, m.normalize, opts);
      }
    } catch (err) {
      await text.close();
      throw err;
    }
    return new EmbeddingModel(resolved.tag, m, text, vision);
  }

  get dimension(): number {
    return this.manifest.dimension;
  }

  async embedTexts(texts: readonly (string | Uint8Array)[], opts: EmbedCallOptions = {}): Promise<EmbedResult> {
    const rows = await this.text.embed(texts, opts.signal);
    return pack(this.tag, this.dimension, rows.map((r) => r.vector), rows.map((r) => r.truncated));
  }

  async embedImages(images: readonly Uint8Array[], opts: EmbedCallOptions = {}): Promise<EmbedResult> {
    if (!this.vision) throw new WrongModalityError(`model ${this.tag} is a ${this.manifest.kind} model and cannot embed images; use a CLIP model`);
    return pack(this.tag, this.dimension, await this.vision.embed(images, opts.signal), []);
  }

  metrics(): BatcherMetrics[] {
    return [this.text.batcher.getMetrics(), ...(this.vision ? [this.vision.batcher.getMetrics()] : [])];
  }

  async close(): Promise<void> {
    await this.text.close();
    await this.vision?.close();
  }
}

function pack(model: string, dimension: number, rows: Float32Array[], truncated: boolean[]): EmbedResult {
  const vectors = new Float32Array(rows.length * dimension);
  rows.forEach((r, i) => vectors.set(r.subarray(0, dimension), i * dimension));
  return { model, dimension, count: rows.length, vectors, truncated };
}
