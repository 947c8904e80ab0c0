/** Why a store call failed. Callers (API, CLI) map these to HTTP statuses / exit codes. */
export type StoreErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'DIMENSION_MISMATCH'
  | 'SCHEMA_TOO_NEW'
  | 'LABELS_EXHAUSTED';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/**
 * A malformed metadata filter. `path` names the place at fault, e.g. `filter.year` or `filter.$and[1].genre`;
 * the message starts with what is wrong and ends with `at <path>`.
 */
export class FilterError extends Error {
  readonly code = 'INVALID_FILTER' as const;
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${reason} at ${path}`);
    this.name = 'FilterError';
  }
}
