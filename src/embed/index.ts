/** Public surface of the embedding layer. */
export * from './errors.ts';
export { AdaptiveBatcher, type BatcherOptions } from './batcher.ts';
export type { BatcherMetrics, HistogramSnapshot } from './metrics.ts';
export { EmbeddingModel, type EmbedResult, type EmbedCallOptions } from './model.ts';
export { EmbeddingService } from './service.ts';
export { ModelRegistry, DEFAULT_MODEL_NAME, DEFAULT_MODEL_DIR, parseTag, sha256File, versionOf, type ResolvedModel, type ImportOptions } from './registry.ts';
export type { ModelManifest, ModelKind } from './manifest.ts';
export { runnerOptionsFromConfig, type RunnerOptions } from './options.ts';
export { preprocessImage, CLIP_DEFAULT_PREPROCESS, type ImagePreprocess } from './image.ts';
export { TextTokenizer, textFromInput } from './tokenizer.ts';
export { cosine, l2normalize } from './vector.ts';
