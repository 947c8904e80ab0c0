export type EngineErrorCode =
  | 'INVALID_ARGUMENT'
  | 'DIMENSION_MISMATCH'
  | 'INVALID_VECTOR'
  | 'DUPLICATE_LABEL'
  | 'UNKNOWN_LABEL'
  | 'CORRUPT_FILE'
  | 'KERNELS_UNAVAILABLE';

/** Every error the engine throws on bad input or a bad file; the index is unchanged when one is thrown. */
export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}
