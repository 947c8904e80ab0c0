import type { TrellisConfig } from '../config.ts';
import type { Logger } from './session.ts';

/** Everything a runner needs from config, plus test/bench switches. */
export interface RunnerOptions {
  executionProviders: string[];
  intraOpThreads: number;
  maxBatchSize: number;
  maxBatchTokens: number;
  maxLatencyMs: number;
  maxQueue: number;
  /** Texts above this many UTF-8 bytes are refused (chunk them first). */
  maxTextBytes: number;
  /** Images above this many pixels are refused from their header, before decoding. */
  maxImagePixels: number;
  /** false = no batching (every item runs alone): the baseline of bench:embed. */
  batching?: boolean;
  /** Text batches: max padded tokens as a fraction of real tokens (see AdaptiveBatcher). Bench/test knob. */
  maxPaddingRatio?: number;
  log?: Logger;
}

export function runnerOptionsFromConfig(embed: TrellisConfig['embed'], extra: Partial<RunnerOptions> = {}): RunnerOptions {
  return {
    executionProviders: embed.executionProviders,
    intraOpThreads: embed.intraOpThreads,
    maxBatchSize: embed.maxBatchSize,
    maxBatchTokens: embed.maxBatchTokens,
    maxLatencyMs: embed.maxLatencyMs,
    maxQueue: embed.maxQueue,
    maxTextBytes: embed.maxTextBytes,
    maxImagePixels: embed.maxImagePixels,
    ...extra,
  };
}
