import { renderSources } from './context.ts';
import type { Citation, Prompt } from './types.ts';

export const SYSTEM_PROMPT = [
  'You answer questions using only the numbered sources you are given.',
  'Every sentence of your answer must be supported by the sources and end with the number of the source(s) it comes from in square brackets, like [1] or [2][3].',
  'Do not use any knowledge that is not in the sources. Do not invent sources or numbers.',
  `If the sources do not contain the answer, reply exactly: "${'The sources do not contain an answer to this question.'}"`,
].join(' ');

/** The answer given when the sources hold nothing relevant (the extractive provider's, and the one the LLM is asked to use). */
export const NO_ANSWER = 'The sources do not contain an answer to this question.';

export function buildPrompt(question: string, sources: Citation[]): Prompt {
  const user = `Sources:\n\n${renderSources(sources)}\n\nQuestion: ${question}\n\nAnswer using only the sources above, citing them as [n].`;
  return { system: SYSTEM_PROMPT, user, question, sources };
}

/** The distinct source numbers the answer cites with [n] / [n][m] / [n, m] markers, in order of first use. */
export function citedNumbers(answer: string): number[] {
  const seen = new Set<number>();
  for (const m of answer.matchAll(/\[(\d+(?:\s*[,;]\s*\d+)*)\]/g)) {
    for (const part of m[1].split(/[,;]/)) seen.add(Number(part.trim()));
  }
  return [...seen];
}
