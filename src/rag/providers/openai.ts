import { GenerationError } from '../errors.ts';
import type { GenerateOptions, Generator, Prompt } from '../types.ts';

export interface OpenAICompatibleOptions {
  /** Up to and including `/v1`, e.g. `http://127.0.0.1:8000/v1` (vLLM), `http://127.0.0.1:11434/v1` (Ollama). */
  baseUrl: string;
  model: string;
  apiKey?: string;
  temperature?: number;
  /** Time allowed for the response headers, and between streamed chunks (default 60 s). */
  timeoutMs?: number;
  maxTokens?: number;
  /** For tests. Default: the global fetch. */
  fetch?: typeof fetch;
}

const NAME = 'openai-compatible';

/**
 * Chat completions over HTTP (`POST {baseUrl}/chat/completions`): vLLM, Ollama, llama.cpp's server, OpenAI itself.
 * With `onToken` it asks for `stream: true` and parses the server-sent events (`data: {...}` lines, `data: [DONE]`).
 * Failures become GenerationError: UPSTREAM_ERROR (HTTP 4xx/5xx, with the server's status and message),
 * UPSTREAM_UNREACHABLE (connection refused, DNS), UPSTREAM_TIMEOUT, BAD_UPSTREAM_RESPONSE. A caller's abort is
 * rethrown as is.
 */
export class OpenAICompatibleGenerator implements Generator {
  readonly name = NAME;
  private readonly url: string;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly opts: OpenAICompatibleOptions) {
    if (!opts.baseUrl) throw new GenerationError('PROVIDER_UNAVAILABLE', 'openai-compatible provider: no base URL (set rag.baseUrl or TRELLIS_LLM_BASE_URL)', { provider: NAME });
    this.url = `${opts.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.fetchImpl = opts.fetch ?? fetch;
  }

  async generate(prompt: Prompt, gen: GenerateOptions = {}): Promise<string> {
    const stream = gen.onToken !== undefined;
    const body: Record<string, unknown> = {
      model: this.opts.model,
      messages: [
        { role: 'system', content: prompt.system },
        { role: 'user', content: prompt.user },
      ],
      temperature: this.opts.temperature ?? 0.1,
      stream,
    };
    if (this.opts.maxTokens) body.max_tokens = this.opts.maxTokens;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json' };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;

    // One controller for both the caller's signal and our idle timer, restarted at every chunk.
    const ctl = new AbortController();
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        ctl.abort(new Error('timeout'));
      }, this.timeoutMs);
    };
    const onAbort = (): void => ctl.abort(gen.signal!.reason);
    gen.signal?.throwIfAborted();
    gen.signal?.addEventListener('abort', onAbort, { once: true });
    const fail = (err: unknown): never => {
      if (gen.signal?.aborted) throw gen.signal.reason;
      if (timedOut) throw new GenerationError('UPSTREAM_TIMEOUT', `LLM server at ${this.url} did not answer within ${this.timeoutMs} ms`, { provider: NAME, cause: err });
      if (err instanceof GenerationError) throw err;
      const code = (err as { cause?: { code?: string } }).cause?.code;
      throw new GenerationError('UPSTREAM_UNREACHABLE', `cannot reach LLM server at ${this.url}: ${code ?? (err as Error).message}`, { provider: NAME, cause: err });
    };
    try {
      arm();
      let res: Response;
      try {
        res = await this.fetchImpl(this.url, { method: 'POST', headers, body: JSON.stringify(body), signal: ctl.signal });
      } catch (err) {
        return fail(err);
      }
      if (!res.ok) {
        let text = '';
        try {
          text = await res.text();
        } catch {
          // the body is only for the message
        }
        throw new GenerationError('UPSTREAM_ERROR', `LLM server answered ${res.status}${res.status === 401 || res.status === 403 ? ' (check the API key, TRELLIS_LLM_API_KEY)' : ''}: ${upstreamMessage(text)}`, {
          provider: NAME,
          upstreamStatus: res.status,
        });
      }
      try {
        if (!stream) {
          const json = (await res.json().catch((err: unknown) => {
            throw new GenerationError('BAD_UPSTREAM_RESPONSE', `LLM server sent a response that is not JSON: ${(err as Error).message}`, { provider: NAME });
          })) as { choices?: { message?: { content?: unknown } }[] };
          const content = json.choices?.[0]?.message?.content;
          if (typeof content !== 'string') throw new GenerationError('BAD_UPSTREAM_RESPONSE', 'LLM server response has no choices[0].message.content', { provider: NAME });
          return content.trim();
        }
        return await this.readStream(res, gen.onToken!, arm);
      } catch (err) {
        return fail(err);
      }
    } finally {
      clearTimeout(timer);
      gen.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async readStream(res: Response, onToken: (t: string) => void, arm: () => void): Promise<string> {
    if (!res.body) throw new GenerationError('BAD_UPSTREAM_RESPONSE', 'LLM server sent no body', { provider: NAME });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let answer = '';
    let done = false;
    const line = (raw: string): void => {
      const l = raw.replace(/\r$/, '');
      if (!l.startsWith('data:')) return; // comments (": keep-alive"), event:, id:, retry: and blank lines
      const data = l.slice(5).trim();
      if (data === '[DONE]') {
        done = true;
        return;
      }
      let chunk: { choices?: { delta?: { content?: unknown } }[]; error?: { message?: string } };
      try {
        chunk = JSON.parse(data);
      } catch {
        throw new GenerationError('BAD_UPSTREAM_RESPONSE', `LLM server sent a stream chunk that is not JSON: ${data.slice(0, 200)}`, { provider: NAME });
      }
      if (chunk.error) throw new GenerationError('UPSTREAM_ERROR', `LLM server reported an error mid-stream: ${chunk.error.message ?? JSON.stringify(chunk.error)}`, { provider: NAME });
      const piece = chunk.choices?.[0]?.delta?.content;
      if (typeof piece === 'string' && piece !== '') {
        answer += piece;
        onToken(piece);
      }
    };
    try {
      while (!done) {
        const { value, done: eof } = await reader.read();
        if (eof) break;
        arm();
        buf += decoder.decode(value, { stream: true });
        let nl: number;
        while (!done && (nl = buf.indexOf('\n')) >= 0) {
          line(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      }
      if (!done && buf.trim()) line(buf);
      if (!done) throw new GenerationError('BAD_UPSTREAM_RESPONSE', 'LLM stream ended without data: [DONE]', { provider: NAME });
    } finally {
      reader.cancel().catch(() => {});
    }
    return answer;
  }
}

function upstreamMessage(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
    const m = typeof j.error === 'string' ? j.error : (j.error?.message ?? j.message);
    if (m) return m;
  } catch {
    // not JSON
  }
  return text.slice(0, 500) || '(empty body)';
}
