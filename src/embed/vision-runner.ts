import * as ort from 'onnxruntime-node';
import { AdaptiveBatcher } from './batcher.ts';
import { InferenceError } from './errors.ts';
import { preprocessImage, type ImagePreprocess } from './image.ts';
import { checkVisionGraph } from './inspect.ts';
import type { GraphSpec } from './manifest.ts';
import type { RunnerOptions } from './options.ts';
import { createSession, describeGraph, type LoadedSession } from './session.ts';
import { l2normalize } from './vector.ts';

/**
 * CLIP vision tower: decode + preprocess (in the caller's turn, so a bad image fails only its caller) -> adaptive
 * batcher -> NCHW batch -> image_embeds -> L2 normalisation (the same space as the text tower's normalised vectors).
 */
export class VisionRunner {
  readonly batcher: AdaptiveBatcher<Float32Array, Float32Array>;

  private constructor(
    readonly label: string,
    private readonly loaded: LoadedSession,
    private readonly graph: GraphSpec,
    private readonly pre: ImagePreprocess,
    private readonly normalize: boolean,
    private readonly opts: RunnerOptions,
  ) {
    this.batcher = new AdaptiveBatcher<Float32Array, Float32Array>({
      name: `${label} vision`,
      run: (items) => this.runBatch(items),
      maxBatchSize: opts.maxBatchSize,
      maxLatencyMs: opts.maxLatencyMs,
      maxQueue: opts.maxQueue,
      batching: opts.batching,
    });
  }

  static async create(label: string, dir: string, graph: GraphSpec, pre: ImagePreprocess, normalize: boolean, opts: RunnerOptions): Promise<VisionRunner> {
    const loaded = await createSession(`${dir}/${graph.file}`, opts, `${label} (${graph.file})`);
    try {
      checkVisionGraph(graph.file, describeGraph(loaded.session));
    } catch (err) {
      await loaded.session.release();
      throw err;
    }
    return new VisionRunner(label, loaded, graph, pre, normalize, opts);
  }

  /** Preprocess one image to CHW float32 (exposed for tests and the benchmark). */
  preprocess(bytes: Uint8Array): Promise<Float32Array> {
    return preprocessImage(bytes, this.pre, this.opts.maxImagePixels);
  }

  async embed(images: readonly Uint8Array[], signal?: AbortSignal): Promise<Float32Array[]> {
    const pixels = await Promise.all(images.map((b) => this.preprocess(b)));
    return this.batcher.submitMany(pixels, signal);
  }

  private async runBatch(items: Float32Array[]): Promise<Float32Array[]> {
    const per = 3 * this.pre.cropHeight * this.pre.cropWidth;
    const data = new Float32Array(items.length * per);
    items.forEach((px, i) => data.set(px, i * per));
    const input = new ort.Tensor('float32', data, [items.length, 3, this.pre.cropHeight, this.pre.cropWidth]);
    let out: ort.Tensor;
    try {
      const res = await this.loaded.session.run({ pixel_values: input }, [this.graph.output]);
      out = res[this.graph.output] as ort.Tensor;
    } catch (err) {
      throw new InferenceError(`${this.label}: vision run failed: ${(err as Error).message.split('\n')[0]}`, { cause: err });
    }
    const d = out.dims[out.dims.length - 1]!;
    const flat = out.data as Float32Array;
    return items.map((_, i) => {
      const v = flat.slice(i * d, (i + 1) * d);
      return this.normalize ? l2normalize(v) : v;
    });
  }

  get provider(): string {
    return this.loaded.provider;
  }

  async close(): Promise<void> {
    this.batcher.close();
    await this.loaded.session.release();
  }
}
