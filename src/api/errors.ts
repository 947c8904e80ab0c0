import { z } from 'zod';
import { EmbedError, EmbedInputError, OverloadError } from '../embed/errors.ts';
import { FilterError, StoreError } from '../store/errors.ts';

/** What every error response carries: `{ error: { code, message, field?, type } }` (also OpenAI-client friendly). */
export interface ErrorBody {
  error: { code: string; message: string; field?: string; type: string };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'conflict_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
  503: 'overloaded_error',
};

/** Maps any error thrown by a route (zod, store, filter, embedding, body parsers, multer) to an ApiError. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof z.ZodError) {
    const issue = err.issues[0]!;
    const field = issue.path.map(String).join('.') || undefined;
    return new ApiError(400, 'INVALID_ARGUMENT', field ? `${field}: ${issue.message}` : issue.message, field);
  }
  if (err instanceof FilterError) return new ApiError(400, 'INVALID_FILTER', err.message, err.path);
  if (err instanceof StoreError) {
    switch (err.code) {
      case 'NOT_FOUND':
        return new ApiError(404, 'NOT_FOUND', err.message);
      case 'ALREADY_EXISTS':
        return new ApiError(409, 'ALREADY_EXISTS', err.message);
      case 'INVALID_ARGUMENT':
        return new ApiError(400, 'INVALID_ARGUMENT', err.message);
      case 'DIMENSION_MISMATCH':
        return new ApiError(422, 'DIMENSION_MISMATCH', err.message, 'vector');
      default:
        return new ApiError(500, err.code, err.message);
    }
  }
  if (err instanceof OverloadError) {
    return new ApiError(503, err.code, err.message, undefined, { 'Retry-After': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) });
  }
  if (err instanceof EmbedInputError) {
    const status = err.code === 'INPUT_TOO_LARGE' || err.code === 'IMAGE_TOO_LARGE' ? 413 : err.code === 'INVALID_IMAGE' ? 422 : 400;
    return new ApiError(status, err.code, err.message);
  }
  if (err instanceof EmbedError) {
    if (err.code === 'MODEL_NOT_FOUND') return new ApiError(404, err.code, err.message, 'model');
    if (err.code === 'CANCELLED') return new ApiError(499, err.code, err.message);
    return new ApiError(500, err.code, err.message);
  }
  const e = err as { status?: number; statusCode?: number; code?: string; message?: string; field?: string; type?: string };
  // multer
  if (typeof e?.code === 'string' && e.code.startsWith('LIMIT_')) {
    const status = e.code === 'LIMIT_UNEXPECTED_FILE' ? 400 : 413;
    return new ApiError(status, e.code, e.message ?? 'upload refused', e.field);
  }
  const status = e?.status ?? e?.statusCode;
  // typed errors of other layers that name their HTTP status (JobError, GenerationError)
  if (typeof status === 'number' && status >= 400 && status < 600 && typeof e.code === 'string' && /^[A-Z][A-Z_]+$/.test(e.code)) {
    return new ApiError(status, e.code, e.message ?? e.code, typeof e.field === 'string' ? e.field : undefined);
  }
  // raw-body / co-body / http-errors (body parser): they carry a status
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : e.type === 'entity.parse.failed' || /JSON/i.test(e.message ?? '') ? 'INVALID_JSON' : 'BAD_REQUEST';
    return new ApiError(status, code, e.message ?? 'bad request', status === 400 ? 'body' : undefined);
  }
  return new ApiError(500, 'INTERNAL', (err as Error)?.message ?? String(err));
}

export function errorBody(e: ApiError): ErrorBody {
  const body: ErrorBody = { error: { code: e.code, message: e.message, type: TYPE_BY_STATUS[e.status] ?? (e.status >= 500 ? 'server_error' : 'invalid_request_error') } };
  if (e.field !== undefined) body.error.field = e.field;
  return body;
}
