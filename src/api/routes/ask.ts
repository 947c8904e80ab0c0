import { PassThrough } from 'node:stream';
import type { Context } from 'koa';
import { ask, askStream } from '../../rag/ask.ts';
import { parseFilter } from '../../store/index.ts';
import { errorBody, toApiError } from '../errors.ts';
import { parse, requireJson } from '../http.ts';
import { AskBody, CollectionParams } from '../schemas.ts';
import type { ApiDeps, ApiRouter } from '../types.ts';

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * `POST /v1/collections/:c/ask`: a cited answer. With `"stream": true`, server-sent events:
 * `event: citations` (the numbered sources), `event: token` (`{"text"}`, repeated), `event: done` (the full
 * response, as the non-streaming call returns it); a failure after the stream started is `event: error`.
 */
export function askRoutes(r: ApiRouter, d: ApiDeps): void {
  const { t, need } = d;
  r.post('/collections/:collection/ask', need('read'), async (ctx: Context) => {
    const { collection } = parse(CollectionParams, ctx.params);
    requireJson(ctx);
    t.store.requireCollection(collection);
    const { stream, ...req } = parse(AskBody, ctx.request.body);
    if (req.filter !== undefined) parseFilter(req.filter);
    const ac = new AbortController();
    // The response closing before it finished = the client went away: stop retrieving / generating.
    ctx.res.once('close', () => {
      if (!ctx.res.writableFinished) ac.abort();
    });
    if (!stream) {
      ctx.body = await ask(t, collection, req, { signal: ac.signal });
      return;
    }
    const it = askStream(t, collection, req, { signal: ac.signal })[Symbol.asyncIterator]();
    // Pull the first event before committing to a 200 event stream, so that early failures are plain JSON errors.
    const first = await it.next();
    const out = new PassThrough();
    ctx.status = 200;
    ctx.type = 'text/event-stream; charset=utf-8';
    ctx.set('Cache-Control', 'no-cache, no-transform');
    ctx.set('X-Accel-Buffering', 'no');
    ctx.body = out;
    const write = (ev: { type: string; [k: string]: unknown }): void => {
      if (ev.type === 'retrieved') out.write(sse('citations', { citations: ev.citations }));
      else if (ev.type === 'token') out.write(sse('token', { text: ev.text }));
      else if (ev.type === 'done') out.write(sse('done', ev.response));
    };
    void (async () => {
      try {
        if (!first.done) write(first.value as { type: string });
        for (let n = await it.next(); !n.done; n = await it.next()) {
          if (ac.signal.aborted) break;
          write(n.value as { type: string });
        }
      } catch (err) {
        if (!ac.signal.aborted) out.write(sse('error', errorBody(toApiError(err)).error));
      } finally {
        if (ac.signal.aborted) await it.return?.();
        out.end();
      }
    })();
  });
}
