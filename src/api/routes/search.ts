import type { Context } from 'koa';
import { retrieve, type RetrieveRequest } from '../../rag/retrieve.ts';
import { parseFilter } from '../../store/index.ts';
import { ApiError } from '../errors.ts';
import { isMultipart, jsonField, numberField, parse, readMultipart, requireJson } from '../http.ts';
import { CollectionParams, SearchBody, SearchInclude } from '../schemas.ts';
import type { ApiDeps, ApiRouter } from '../types.ts';
import { z } from 'zod';

const ALL_FIELDS = SearchInclude.options;

export function searchRoutes(r: ApiRouter, d: ApiDeps): void {
  const { t, need } = d;

  /**
   * Search by text (text-to-image on an image collection), by vector (JSON), or by image (multipart field `image`,
   * with `k`, `filter`, `efSearch` as form fields).
   */
  r.post('/collections/:collection/search', need('read'), async (ctx: Context) => {
    const { collection } = parse(CollectionParams, ctx.params);
    let req: RetrieveRequest;
    let include: readonly string[] = ALL_FIELDS;
    if (isMultipart(ctx)) {
      const { fields, files } = await readMultipart(ctx, { fileBytes: d.limits.fileBytes, files: 1 });
      const image = files.find((f) => f.field === 'image') ?? files[0];
      if (!image) throw new ApiError(400, 'INVALID_ARGUMENT', 'multipart search needs an image file in field "image"', 'image');
      const q = parse(
        z.object({ k: z.int().min(1).max(1000).default(10), efSearch: z.int().min(1).max(4096).optional(), filter: z.record(z.string(), z.unknown()).optional() }),
        { k: numberField(fields, 'k'), efSearch: numberField(fields, 'efSearch'), filter: jsonField(fields, 'filter') },
      );
      req = { image: new Uint8Array(image.buffer), k: q.k, efSearch: q.efSearch, filter: q.filter, mode: 'vector' };
    } else {
      requireJson(ctx);
      const b = parse(SearchBody, ctx.request.body);
      const given = [b.text, b.vector].filter((x) => x !== undefined).length;
      if (given !== 1) throw new ApiError(400, 'INVALID_ARGUMENT', 'give exactly one of text or vector (or an image as multipart/form-data)', 'text');
      if (b.mode !== 'vector' && b.text === undefined) throw new ApiError(400, 'INVALID_ARGUMENT', `${b.mode} search needs text`, 'mode');
      // unknown collection (404) and a vector of the wrong dimension (422, field "vector") are retrieve's to say
      req = { text: b.text, vector: b.vector, k: b.k, filter: b.filter, efSearch: b.efSearch, mode: b.mode, weights: b.weights };
      if (b.include) include = b.include;
    }
    if (req.filter !== undefined) parseFilter(req.filter);
    const ac = new AbortController();
    ctx.res.once('close', () => {
      if (!ctx.res.writableFinished) ac.abort();
    });
    const t0 = performance.now();
    const res = await retrieve(t, collection, { ...req, signal: ac.signal });
    const want = new Set(include);
    const results = res.hits.map((h) => {
      const o: Record<string, unknown> = { id: h.id, score: h.score };
      if (want.has('text')) o.text = h.text;
      if (want.has('metadata')) o.metadata = h.metadata;
      if (want.has('documentId')) o.documentId = h.documentId;
      if (want.has('source')) o.source = h.source;
      if (want.has('page')) o.page = h.page;
      return o;
    });
    ctx.body = { results, timings: { ...res.timings, totalMs: performance.now() - t0 } };
  });
}
