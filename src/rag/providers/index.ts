import type { RagConfig } from '../../config.ts';
import { StoreError } from '../../store/index.ts';
import type { Generator } from '../types.ts';
import { ExtractiveGenerator, type Embedder } from './extractive.ts';
import { LocalGenerator } from './local.ts';
import { OpenAICompatibleGenerator } from './openai.ts';

export { ExtractiveGenerator, type Embedder, type ExtractiveOptions, type ScoredSentence } from './extractive.ts';
export { OpenAICompatibleGenerator, type OpenAICompatibleOptions } from './openai.ts';
export { LocalGenerator } from './local.ts';

export const PROVIDERS = ['extractive', 'openai-compatible', 'local'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** The generator for a provider name; `embed` is the collection model (used by extractive). */
export function createGenerator(name: string, rag: RagConfig, embed?: Embedder): Generator {
  switch (name) {
    case 'extractive':
      return new ExtractiveGenerator(embed);
    case 'openai-compatible':
      return new OpenAICompatibleGenerator({ baseUrl: rag.baseUrl, model: rag.model, apiKey: rag.apiKey, temperature: rag.temperature, timeoutMs: rag.timeoutMs });
    case 'local':
      return new LocalGenerator();
    default:
      throw new StoreError('INVALID_ARGUMENT', `unknown provider "${name}"; use one of ${PROVIDERS.join(', ')}`);
  }
}
