/**
 * Why generation failed. `status` is the HTTP status the API should answer with:
 * 502 the LLM server answered with an error or nonsense, or could not be reached; 504 it did not answer in time;
 * 501 the provider is not available in this build (e.g. `local` without node-llama-cpp).
 */
export type GenerationErrorCode = 'UPSTREAM_ERROR' | 'UPSTREAM_UNREACHABLE' | 'UPSTREAM_TIMEOUT' | 'BAD_UPSTREAM_RESPONSE' | 'PROVIDER_UNAVAILABLE';

const STATUS: Record<GenerationErrorCode, number> = {
  UPSTREAM_ERROR: 502,
  UPSTREAM_UNREACHABLE: 502,
  BAD_UPSTREAM_RESPONSE: 502,
  UPSTREAM_TIMEOUT: 504,
  PROVIDER_UNAVAILABLE: 501,
};

export class GenerationError extends Error {
  readonly status: number;
  constructor(
    readonly code: GenerationErrorCode,
    message: string,
    readonly details: { provider?: string; upstreamStatus?: number; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'GenerationError';
    this.status = STATUS[code];
  }
}
