import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny OpenAI chat-completions server on 127.0.0.1 for tests. It speaks the wire format of
 * `POST /v1/chat/completions`: a JSON `chat.completion` for `stream: false`, and for `stream: true` server-sent events
 * with `chat.completion.chunk` objects (`choices[0].delta.content`) ending in `data: [DONE]`.
 * It records every request (headers and parsed body). `behave` picks what it does next.
 */
export type ChatBehaviour =
  | { kind: 'answer'; content: string; chunks?: string[]; chunkDelayMs?: number }
  | { kind: 'status'; status: number; body?: unknown }
  | { kind: 'hang' }
  | { kind: 'stall-stream'; chunks: string[] }
  | { kind: 'no-done'; chunks: string[] };

export interface ChatRequestRecord {
  path: string;
  headers: IncomingMessage['headers'];
  body: {
    model?: string;
    messages?: { role: string; content: string }[];
    temperature?: number;
    stream?: boolean;
    [k: string]: unknown;
  };
}

export interface ChatServer {
  /** Base URL including /v1, as `rag.baseUrl` wants it. */
  baseUrl: string;
  port: number;
  requests: ChatRequestRecord[];
  behave(b: ChatBehaviour): void;
  close(): Promise<void>;
}

export async function startChatServer(initial: ChatBehaviour = { kind: 'answer', content: 'Hello [1].' }): Promise<ChatServer> {
  let behaviour = initial;
  const requests: ChatRequestRecord[] = [];
  const open = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (raw += d));
    req.on('end', () => {
      let body: ChatRequestRecord['body'] = {};
      try {
        body = JSON.parse(raw || '{}');
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'bad json' } }));
        return;
      }
      requests.push({ path: req.url ?? '', headers: req.headers, body });
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no route ${req.url}` } }));
        return;
      }
      open.add(res);
      res.on('close', () => open.delete(res));
      void respond(behaviour, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    behave: (b) => (behaviour = b),
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of open) r.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function chunk(model: string, delta: Record<string, unknown>, finish: string | null = null): string {
  const c = { id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 0, model, choices: [{ index: 0, delta, finish_reason: finish }] };
  return `data: ${JSON.stringify(c)}\n\n`;
}

async function respond(b: ChatBehaviour, body: ChatRequestRecord['body'], res: ServerResponse): Promise<void> {
  const model = body.model ?? 'test-model';
  switch (b.kind) {
    case 'hang':
      return; // never answer
    case 'status':
      res.writeHead(b.status, { 'content-type': 'application/json' }).end(JSON.stringify(b.body ?? { error: { message: `test error ${b.status}`, type: 'server_error' } }));
      return;
    case 'answer':
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            id: 'chatcmpl-test',
            object: 'chat.completion',
            created: 0,
            model,
            choices: [{ index: 0, message: { role: 'assistant', content: b.content }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(': keep-alive comment\n\n');
      res.write(chunk(model, { role: 'assistant', content: '' }));
      for (const piece of b.chunks ?? b.content.split(/(?<=\s)/)) {
        if (b.chunkDelayMs) await sleep(b.chunkDelayMs);
        if (res.destroyed) return;
        res.write(chunk(model, { content: piece }));
      }
      res.write(chunk(model, {}, 'stop'));
      res.end('data: [DONE]\n\n');
      return;
    case 'stall-stream':
    case 'no-done':
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const piece of b.chunks) res.write(chunk(model, { content: piece }));
      if (b.kind === 'no-done') res.end();
      return; // stall: keep the connection open, send nothing more
  }
}
