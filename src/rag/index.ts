/** The RAG answer layer: retrieval -> context assembly -> generation -> cited answer. See docs/rag.md. */
export { ask, askStream, REFUSAL, MAX_K, type AskOptions } from './ask.ts';
export { retrieve, type RetrieveRequest, type RetrieveResult, type RetrievedHit } from './retrieve.ts';
export { GenerationError, type GenerationErrorCode } from './errors.ts';
export { assembleContext, renderSources, cutToFit, type AssembledContext } from './context.ts';
export { buildPrompt, citedNumbers, NO_ANSWER, SYSTEM_PROMPT } from './prompt.ts';
export { createGenerator, PROVIDERS, ExtractiveGenerator, OpenAICompatibleGenerator, LocalGenerator, type ProviderName } from './providers/index.ts';
export { rerankHits, RERANK_WEIGHTS } from './rerank.ts';
export { checkSafety, SAFETY_RULES, SAFETY_EXEMPLARS, type SafetyVerdict } from './safety.ts';
export type * from './types.ts';
