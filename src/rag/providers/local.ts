import { GenerationError } from '../errors.ts';
import type { Generator, Prompt } from '../types.ts';

/**
 * `local`: an in-process model (node-llama-cpp with a GGUF file). Not available in this build: node-llama-cpp is not
 * a dependency. The name is known so that asking for it fails clearly (501) instead of as an unknown provider.
 */
export class LocalGenerator implements Generator {
  readonly name = 'local';
  async generate(_prompt: Prompt): Promise<string> {
    const pkg = 'node-llama-cpp';
    let installed = false;
    try {
      await import(pkg);
      installed = true;
    } catch {
      installed = false;
    }
    throw new GenerationError(
      'PROVIDER_UNAVAILABLE',
      installed
        ? 'the local provider is not implemented in this build (node-llama-cpp is present but unused); use extractive or openai-compatible'
        : 'the local provider needs node-llama-cpp, which is not installed; use extractive (default) or openai-compatible (e.g. llama.cpp\'s server)',
      { provider: 'local' },
    );
  }
}
