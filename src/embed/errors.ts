/**
 * Typed errors of the embedding layer. Every failure a caller can cause (bad input, unknown tag, a tampered model)
 * gets its own class and a stable `code`, so the API can map them to HTTP statuses without parsing messages:
 * `EmbedInputError` -> 400, `ModelNotFoundError` -> 404, `OverloadError` -> 503 + Retry-After, the rest -> 500.
 */
export class EmbedError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The caller's input cannot be embedded (empty, too large, not UTF-8, not an image, ...). */
export class EmbedInputError extends EmbedError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export class EmptyInputError extends EmbedInputError {
  constructor(message = 'text is empty or whitespace only; nothing to embed') {
    super('EMPTY_INPUT', message);
  }
}

export class InputTooLargeError extends EmbedInputError {
  constructor(message: string) {
    super('INPUT_TOO_LARGE', message);
  }
}

export class InvalidUtf8Error extends EmbedInputError {
  constructor(message = 'text is not valid UTF-8') {
    super('INVALID_UTF8', message);
  }
}

export class InvalidImageError extends EmbedInputError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_IMAGE', message, options);
  }
}

export class ImageTooLargeError extends EmbedInputError {
  constructor(message: string) {
    super('IMAGE_TOO_LARGE', message);
  }
}

/** No model in the registry answers to this tag. */
export class ModelNotFoundError extends EmbedError {
  constructor(message: string) {
    super('MODEL_NOT_FOUND', message);
  }
}

/** A model folder's files do not match the sha256 recorded in its model.json (or a file is missing). */
export class ModelIntegrityError extends EmbedError {
  constructor(message: string) {
    super('MODEL_INTEGRITY', message);
  }
}

/** The ONNX graph or model folder has a shape the runner does not understand (unknown inputs, no usable output...). */
export class UnsupportedModelError extends EmbedError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNSUPPORTED_MODEL', message, options);
  }
}

/** The model cannot embed this kind of input (e.g. images on a text-only model). */
export class WrongModalityError extends EmbedInputError {
  constructor(message: string) {
    super('WRONG_MODALITY', message);
  }
}

/** The batcher's queue is full: refuse at once instead of growing. `retryAfterMs` is a hint for Retry-After. */
export class OverloadError extends EmbedError {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super('OVERLOADED', message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** Queued work whose AbortSignal fired before it reached the model. */
export class CancelledError extends EmbedError {
  constructor(message = 'embedding request was cancelled before it ran') {
    super('CANCELLED', message);
  }
}

/** The model run itself failed (onnxruntime error); other callers are unaffected. */
export class InferenceError extends EmbedError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INFERENCE_FAILED', message, options);
  }
}
