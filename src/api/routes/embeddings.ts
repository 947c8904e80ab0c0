import type { EmbeddingModel } from '../../embed/index.ts';
import { ApiError } from '../errors.ts';
import { parse, requireJson } from '../http.ts';
import { EmbeddingsBody } from '../schemas.ts';
import type { ApiDeps, ApiRouter } from '../types.ts';

/** OpenAI-compatible embeddings: `model` is a collection name (its model) or a model tag. */
export function embeddingRoutes(r: ApiRouter, d: ApiDeps): void {
  const { t, need } = d;
  r.post('/embeddings', need('read'), async (ctx) => {
    requireJson(ctx);
    const body = parse(EmbeddingsBody, ctx.request.body);
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    const collection = t.store.getCollection(body.model);
    const model: EmbeddingModel = collection ? await t.modelFor(collection) : await t.embed.model(body.model);
    if (body.dimensions !== undefined && body.dimensions !== model.dimension) {
      throw new ApiError(400, 'INVALID_ARGUMENT', `model ${model.tag} returns ${model.dimension} dimensions; it cannot shorten them to ${body.dimensions}`, 'dimensions');
    }
    const res = await model.embedTexts(inputs);
    const tok = model.text.tokenizer;
    const tokens = inputs.reduce((s, x) => s + tok.countTokens(x), 0);
    const data = Array.from({ length: res.count }, (_, i) => {
      const v = res.vectors.subarray(i * res.dimension, (i + 1) * res.dimension);
      const embedding = body.encoding_format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v);
      return { object: 'embedding' as const, index: i, embedding };
    });
    ctx.body = { object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
  });
}
