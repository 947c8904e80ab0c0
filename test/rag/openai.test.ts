import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask, askStream } from '../../src/rag/ask.ts';
import { renderSources } from '../../src/rag/context.ts';
import { GenerationError } from '../../src/rag/errors.ts';
import { buildPrompt, SYSTEM_PROMPT } from '../../src/rag/prompt.ts';
import { OpenAICompatibleGenerator } from '../../src/rag/providers/openai.ts';
import type { AskEvent, Citation } from '../../src/rag/types.ts';
import { startChatServer, type ChatServer } from '../helpers/chat-server.ts';
import { setupCorpus, type RagFixture } from './helpers.ts';

let server: ChatServer;
let fx: RagFixture;
beforeAll(async () => {
  server = await startChatServer();
  fx = await setupCorpus();
  Object.assign(fx.t.config.rag, { provider: 'openai-compatible', baseUrl: server.baseUrl, model: 'test-llm', apiKey: 'sk-test', temperature: 0.2, timeoutMs: 5000 });
});
afterAll(async () => {
  await server?.close();
  await fx?.cleanup();
});

const SOURCES: Citation[] = [
  { n: 1, id: 'a#0', documentId: 'a', source: 'a.txt', page: null, score: 0.9, text: 'Tomatoes need sun.' },
  { n: 2, id: 'b#0', documentId: 'b', source: 'b.pdf', page: 3, score: 0.5, text: 'Peppers like warm soil.' },
];

function gen(extra: Partial<ConstructorParameters<typeof OpenAICompatibleGenerator>[0]> = {}): OpenAICompatibleGenerator {
  return new OpenAICompatibleGenerator({ baseUrl: server.baseUrl, model: 'test-llm', apiKey: 'sk-test', timeoutMs: 2000, ...extra });
}

async function failure(p: Promise<unknown>): Promise<GenerationError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GenerationError);
  return err as GenerationError;
}

describe('openai-compatible provider against a loopback chat-completions server', () => {
  it('ask sends the model, a citing system prompt and the numbered sources; parses the answer and its citations', async () => {
    server.behave({ kind: 'answer', content: 'Tomatoes need at least six hours of direct sunlight [1].' });
    const before = server.requests.length;
    const r = await ask(fx.t, 'kb', { question: 'How much sun do tomatoes need?', k: 3 });
    const req = server.requests[before];
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.headers.authorization).toBe('Bearer sk-test');
    expect(req.body).toMatchObject({ model: 'test-llm', temperature: 0.2, stream: false });
    expect(req.body.messages).toHaveLength(2);
    expect(req.body.messages![0]).toEqual({ role: 'system', content: SYSTEM_PROMPT });
    expect(SYSTEM_PROMPT).toMatch(/only/);
    expect(SYSTEM_PROMPT).toMatch(/\[1\]/);
    const user = req.body.messages![1];
    expect(user.role).toBe('user');
    expect(user.content).toContain(renderSources(r.sources));
    expect(user.content).toContain('[1] ');
    expect(user.content).toContain('Question: How much sun do tomatoes need?');
    expect(r.sources.length).toBe(3);
    expect(r.provider).toBe('openai-compatible');
    expect(r.answer).toBe('Tomatoes need at least six hours of direct sunlight [1].');
    expect(r.citations.map((c) => c.n)).toEqual([1]);
    expect(r.steps.find((s) => s.name === 'generate')).toMatchObject({ provider: 'openai-compatible', cited: 1 });
  });

  it('streams: SSE deltas arrive as tokens, in order, and make up the answer', async () => {
    const chunks = ['Peppers', ' like', ' soil', ' warmer than', ' eighteen degrees', ' [1]', '[2].'];
    server.behave({ kind: 'answer', content: chunks.join(''), chunks, chunkDelayMs: 15 });
    const before = server.requests.length;
    const events: AskEvent[] = [];
    const at: number[] = [];
    for await (const e of askStream(fx.t, 'kb', { question: 'What soil do peppers like?', k: 2 })) {
      events.push(e);
      at.push(performance.now());
    }
    expect(server.requests[before].body.stream).toBe(true);
    expect(events[0].type).toBe('retrieved');
    const tokens = events.filter((e) => e.type === 'token').map((e) => (e as { text: string }).text);
    expect(tokens).toEqual(chunks);
    const done = events.at(-1) as Extract<AskEvent, { type: 'done' }>;
    expect(done.type).toBe('done');
    expect(done.response.answer).toBe(chunks.join(''));
    expect(done.response.citations.map((c) => c.n)).toEqual([1, 2]);
    // tokens were delivered as they came, not all at the end
    expect(at[events.length - 2] - at[1]).toBeGreaterThan(40);
  });

  it('generator: non-streaming and streaming calls against the wire format', async () => {
    server.behave({ kind: 'answer', content: '  Tomatoes need sun [1].  ' });
    expect(await gen().generate(buildPrompt('q?', SOURCES))).toBe('Tomatoes need sun [1].');
    const user = server.requests.at(-1)!.body.messages![1].content;
    expect(user).toContain('[1] a.txt\nTomatoes need sun.');
    expect(user).toContain('[2] b.pdf (p. 3)\nPeppers like warm soil.');
    server.behave({ kind: 'answer', content: 'a b c', chunks: ['a', ' b', ' c'] });
    const seen: string[] = [];
    expect(await gen().generate(buildPrompt('q?', SOURCES), { onToken: (t) => seen.push(t) })).toBe('a b c');
    expect(seen).toEqual(['a', ' b', ' c']);
    // no key configured: no Authorization header
    server.behave({ kind: 'answer', content: 'ok' });
    await gen({ apiKey: undefined }).generate(buildPrompt('q?', SOURCES));
    expect(server.requests.at(-1)!.headers.authorization).toBeUndefined();
  });

  it('maps a 500 to UPSTREAM_ERROR (502) with the server message', async () => {
    server.behave({ kind: 'status', status: 500, body: { error: { message: 'model crashed', type: 'server_error' } } });
    const e = await failure(gen().generate(buildPrompt('q?', SOURCES)));
    expect(e).toMatchObject({ code: 'UPSTREAM_ERROR', status: 502, details: { upstreamStatus: 500 } });
    expect(e.message).toMatch(/500.*model crashed/);
    // and through ask (streaming too)
    await expect(ask(fx.t, 'kb', { question: 'tomatoes' })).rejects.toMatchObject({ code: 'UPSTREAM_ERROR', status: 502 });
    const it = askStream(fx.t, 'kb', { question: 'tomatoes' });
    const events: string[] = [];
    const err = await (async () => {
      for await (const ev of it) events.push(ev.type);
    })().catch((x: unknown) => x);
    expect(events).toEqual(['retrieved']);
    expect(err).toMatchObject({ code: 'UPSTREAM_ERROR' });
  });

  it('maps a 401 to UPSTREAM_ERROR (502) that points at the API key', async () => {
    server.behave({ kind: 'status', status: 401, body: { error: { message: 'Incorrect API key provided' } } });
    const e = await failure(gen({ apiKey: 'wrong' }).generate(buildPrompt('q?', SOURCES)));
    expect(e).toMatchObject({ code: 'UPSTREAM_ERROR', status: 502, details: { upstreamStatus: 401 } });
    expect(e.message).toMatch(/401.*API key.*Incorrect API key provided/);
  });

  it('maps connection refused to UPSTREAM_UNREACHABLE (502)', async () => {
    const gone = await startChatServer();
    const url = gone.baseUrl;
    await gone.close();
    const e = await failure(new OpenAICompatibleGenerator({ baseUrl: url, model: 'm' }).generate(buildPrompt('q?', SOURCES)));
    expect(e).toMatchObject({ code: 'UPSTREAM_UNREACHABLE', status: 502 });
    expect(e.message).toMatch(/ECONNREFUSED/);
  });

  it('maps a server that does not answer, or stalls mid-stream, to UPSTREAM_TIMEOUT (504)', async () => {
    server.behave({ kind: 'hang' });
    const t0 = performance.now();
    const e = await failure(gen({ timeoutMs: 200 }).generate(buildPrompt('q?', SOURCES)));
    expect(e).toMatchObject({ code: 'UPSTREAM_TIMEOUT', status: 504 });
    expect(performance.now() - t0).toBeLessThan(2000);
    server.behave({ kind: 'stall-stream', chunks: ['partial'] });
    const seen: string[] = [];
    const e2 = await failure(gen({ timeoutMs: 200 }).generate(buildPrompt('q?', SOURCES), { onToken: (t) => seen.push(t) }));
    expect(e2).toMatchObject({ code: 'UPSTREAM_TIMEOUT' });
    expect(seen).toEqual(['partial']);
  });

  it('a stream cut before [DONE] is a BAD_UPSTREAM_RESPONSE; a caller abort is not a GenerationError', async () => {
    server.behave({ kind: 'no-done', chunks: ['half'] });
    const e = await failure(gen().generate(buildPrompt('q?', SOURCES), { onToken: () => {} }));
    expect(e).toMatchObject({ code: 'BAD_UPSTREAM_RESPONSE', status: 502 });
    server.behave({ kind: 'hang' });
    const ac = new AbortController();
    const p = gen({ timeoutMs: 5000 }).generate(buildPrompt('q?', SOURCES), { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('client left')), 50);
    await expect(p).rejects.toThrow('client left');
  });
});
