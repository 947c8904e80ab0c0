/**
 * The Trellis HNSW engine: pure computation on typed arrays and WebAssembly memory.
 * Imports nothing from the rest of src/ (see DESIGN.md).
 */
export { HnswIndex, MAX_LABEL } from './hnsw.ts';
export type { HnswSnapshot } from './hnsw.ts';
export { EngineError } from './errors.ts';
export type { EngineErrorCode } from './errors.ts';
export { LabelSet } from './label-set.ts';
export { wasmKernelsAvailable } from './kernels.ts';
export { FORMAT_VERSION } from './format.ts';
export * from './types.ts';
