import { EngineError } from '../engine/errors.ts';
import { METRICS, type Metric } from '../engine/types.ts';
import type { IndexOptions } from './types.ts';

/** Shared input checks, so that every backend refuses the same bad input with the same error code, before changing anything. */

/** 2^32 - 1 is reserved by the engine as its "no label" sentinel. */
export const MAX_LABEL = 0xfffffffe;

export function checkOptions(opts: IndexOptions): void {
  if (opts === null || typeof opts !== 'object') throw new EngineError('INVALID_ARGUMENT', 'index options must be an object');
  if (!Number.isInteger(opts.dim) || opts.dim <= 0) {
    throw new EngineError('INVALID_ARGUMENT', `dim must be a positive integer (got ${String(opts.dim)})`);
  }
  if (!METRICS.includes(opts.metric)) {
    throw new EngineError('INVALID_ARGUMENT', `unknown metric ${JSON.stringify(opts.metric)} (expected one of ${METRICS.join(', ')})`);
  }
  for (const key of ['m', 'efConstruction', 'efSearch', 'capacity'] as const) {
    const v = opts[key];
    if (v !== undefined && (!Number.isInteger(v) || v < (key === 'capacity' ? 0 : key === 'm' ? 2 : 1))) {
      throw new EngineError('INVALID_ARGUMENT', `${key} must be a positive integer (got ${String(v)})`);
    }
  }
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) {
    throw new EngineError('INVALID_ARGUMENT', `seed must be an integer (got ${String(opts.seed)})`);
  }
}

export function checkLabel(label: number): void {
  if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label > MAX_LABEL) {
    throw new EngineError('INVALID_ARGUMENT', `label must be an integer in [0, 2^32 - 2] (got ${String(label)})`);
  }
}

export function checkK(k: number): void {
  if (typeof k !== 'number' || !Number.isInteger(k) || k <= 0) {
    throw new EngineError('INVALID_ARGUMENT', `k must be a positive integer (got ${String(k)})`);
  }
}

export function checkEf(ef: number | undefined): void {
  if (ef !== undefined && (typeof ef !== 'number' || !Number.isInteger(ef) || ef <= 0)) {
    throw new EngineError('INVALID_ARGUMENT', `efSearch must be a positive integer (got ${String(ef)})`);
  }
}

/** Checks one vector (or row `row` of a row-major batch): length, finite values, and non-zero norm for cosine. */
export function checkVector(vec: ArrayLike<number>, dim: number, metric: Metric, what = 'vector', offset = 0, expectLength = true): void {
  if (vec === null || typeof vec !== 'object' || typeof vec.length !== 'number') {
    throw new EngineError('INVALID_ARGUMENT', `${what} must be an array of numbers`);
  }
  if (expectLength && vec.length !== dim) {
    throw new EngineError('DIMENSION_MISMATCH', `${what} has ${vec.length} values, the index has dim ${dim}`);
  }
  let norm = 0;
  for (let j = 0; j < dim; j++) {
    const x = vec[offset + j];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new EngineError('INVALID_VECTOR', `${what} has a non-finite value (${String(x)}) at position ${j}`);
    }
    norm += x * x;
  }
  if (metric === 'cosine' && norm === 0) {
    throw new EngineError('INVALID_VECTOR', `${what} is all zeros, which has no direction under the cosine metric`);
  }
}

/**
 * Checks a batch: labels are valid, distinct, not already present (`exists`), and `vectors` holds exactly
 * `labels.length * dim` finite values.
 */
export function checkBatch(
  labels: ArrayLike<number>,
  vectors: ArrayLike<number>,
  dim: number,
  metric: Metric,
  exists: (label: number) => boolean,
): void {
  if (labels === null || typeof labels !== 'object' || typeof labels.length !== 'number') {
    throw new EngineError('INVALID_ARGUMENT', 'labels must be an array of integers');
  }
  if (vectors === null || typeof vectors !== 'object' || typeof vectors.length !== 'number') {
    throw new EngineError('INVALID_ARGUMENT', 'vectors must be a row-major array of numbers');
  }
  const n = labels.length;
  if (vectors.length !== n * dim) {
    throw new EngineError(
      'DIMENSION_MISMATCH',
      `vectors has ${vectors.length} values for ${n} labels; expected ${n} * dim ${dim} = ${n * dim}`,
    );
  }
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const label = labels[i];
    checkLabel(label);
    if (seen.has(label) || exists(label)) {
      throw new EngineError('DUPLICATE_LABEL', `label ${label} is already in the index${seen.has(label) ? ' (twice in this batch)' : ''}`);
    }
    seen.add(label);
    checkVector(vectors, dim, metric, `vector for label ${label}`, i * dim, false);
  }
}

/** Checks a delete batch: every label is present and named once. */
export function checkDelete(labels: ArrayLike<number>, exists: (label: number) => boolean): void {
  if (labels === null || typeof labels !== 'object' || typeof labels.length !== 'number') {
    throw new EngineError('INVALID_ARGUMENT', 'labels must be an array of integers');
  }
  const seen = new Set<number>();
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    checkLabel(label);
    if (seen.has(label)) throw new EngineError('INVALID_ARGUMENT', `label ${label} appears twice in the delete batch`);
    if (!exists(label)) throw new EngineError('UNKNOWN_LABEL', `label ${label} is not in the index`);
    seen.add(label);
  }
}

export function checkSearch(query: ArrayLike<number>, k: number, dim: number, metric: Metric, ef?: number): void {
  checkK(k);
  checkEf(ef);
  checkVector(query, dim, metric, 'query');
}
