import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * One typed configuration, resolved in this order (later wins):
 * built-in defaults <- `TRELLIS_HOME/config.json` <- environment (`TRELLIS_*`) <- explicit overrides (CLI flags).
 */
export interface TrellisConfig {
  /** Folder holding all state: trellis.db, indexes/, models/, reports/. */
  home: string;
  hnsw: { m: number; efConstruction: number; efSearch: number };
  embed: {
    /** Model tag used when a collection does not name one. */
    defaultTextModel: string;
    /** onnxruntime execution providers in order of preference, e.g. ["cuda", "cpu"]. */
    executionProviders: string[];
    intraOpThreads: number;
    maxBatchSize: number;
    maxBatchTokens: number;
    maxLatencyMs: number;
    maxQueue: number;
    /** Texts larger than this many UTF-8 bytes are refused with a clear error (chunk them first). */
    maxTextBytes: number;
    /** Images with more pixels than this are refused from their header, before being decoded. */
    maxImagePixels: number;
  };
  /** The ask pipeline (src/rag, docs/rag.md). */
  rag: RagConfig;
}

/** Generation settings. The API key is best given by environment (TRELLIS_LLM_API_KEY), not in config.json. */
export interface RagConfig {
  /** `extractive` (default, offline), `openai-compatible` (vLLM, Ollama, llama.cpp server), `local` (not installed). */
  provider: string;
  /** OpenAI-compatible server, up to and including `/v1`, e.g. `http://127.0.0.1:8000/v1`. */
  baseUrl: string;
  model: string;
  apiKey?: string;
  /** Time allowed for the server to answer, and for each streamed chunk to follow the previous one. */
  timeoutMs: number;
  /** Budget for the numbered sources given to the generator, in the collection model's tokens. */
  maxContextTokens: number;
  temperature: number;
  safety: { enabled: boolean; threshold: number };
  rerank: { enabled: boolean };
}

export type ConfigOverrides = {
  home?: string;
  hnsw?: Partial<TrellisConfig['hnsw']>;
  embed?: Partial<TrellisConfig['embed']>;
  rag?: Partial<Omit<RagConfig, 'safety' | 'rerank'>> & { safety?: Partial<RagConfig['safety']>; rerank?: Partial<RagConfig['rerank']> };
};

export const DEFAULTS: TrellisConfig = {
  home: './.trellis',
  hnsw: { m: 16, efConstruction: 200, efSearch: 64 },
  embed: {
    defaultTextModel: 'trellis-static-wp256',
    executionProviders: ['cpu'],
    intraOpThreads: 0,
    maxBatchSize: 32,
    maxBatchTokens: 16_384,
    maxLatencyMs: 5,
    maxQueue: 1024,
    maxTextBytes: 256 * 1024,
    maxImagePixels: 50_000_000,
  },
  rag: {
    provider: 'extractive',
    baseUrl: 'http://127.0.0.1:8000/v1',
    model: 'default',
    timeoutMs: 60_000,
    maxContextTokens: 1500,
    temperature: 0.1,
    safety: { enabled: false, threshold: 0.8 },
    rerank: { enabled: false },
  },
};

function merge(base: TrellisConfig, over: ConfigOverrides): TrellisConfig {
  return {
    home: over.home ?? base.home,
    hnsw: { ...base.hnsw, ...stripUndefined(over.hnsw ?? {}) },
    embed: { ...base.embed, ...stripUndefined(over.embed ?? {}) },
    rag: mergeRag(base.rag, over.rag),
  };
}

function mergeRag(base: RagConfig, over: ConfigOverrides['rag'] = {}): RagConfig {
  const { safety, rerank, ...rest } = over;
  return {
    ...base,
    ...stripUndefined(rest),
    safety: { ...base.safety, ...stripUndefined(safety ?? {}) },
    rerank: { ...base.rerank, ...stripUndefined(rerank ?? {}) },
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`environment variable ${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

function fromEnv(env: NodeJS.ProcessEnv): ConfigOverrides {
  return {
    home: env.TRELLIS_HOME || undefined,
    hnsw: {
      m: intFromEnv(env, 'TRELLIS_HNSW_M'),
      efConstruction: intFromEnv(env, 'TRELLIS_HNSW_EF_CONSTRUCTION'),
      efSearch: intFromEnv(env, 'TRELLIS_HNSW_EF_SEARCH'),
    },
    embed: {
      executionProviders: env.TRELLIS_EXECUTION_PROVIDERS ? env.TRELLIS_EXECUTION_PROVIDERS.split(',').map((s) => s.trim()) : undefined,
      intraOpThreads: intFromEnv(env, 'TRELLIS_INTRA_OP_THREADS'),
    },
    rag: {
      provider: env.TRELLIS_LLM_PROVIDER || undefined,
      baseUrl: env.TRELLIS_LLM_BASE_URL || undefined,
      model: env.TRELLIS_LLM_MODEL || undefined,
      apiKey: env.TRELLIS_LLM_API_KEY || undefined,
      timeoutMs: intFromEnv(env, 'TRELLIS_LLM_TIMEOUT_MS'),
    },
  };
}

export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): TrellisConfig {
  const envOver = fromEnv(env);
  const home = resolve(overrides.home ?? envOver.home ?? DEFAULTS.home);
  let cfg = merge(DEFAULTS, { home });
  const file = join(home, 'config.json');
  if (existsSync(file)) {
    let parsed: ConfigOverrides;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8')) as ConfigOverrides;
    } catch (err) {
      throw new Error(`config file ${file} is not valid JSON: ${(err as Error).message}`);
    }
    cfg = merge(cfg, { ...parsed, home });
  }
  cfg = merge(cfg, { ...envOver, home });
  return merge(cfg, { ...overrides, home });
}
