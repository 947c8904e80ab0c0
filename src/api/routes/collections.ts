import { createCollection } from '../../cli/collections.ts';
import { EmbedError } from '../../embed/errors.ts';
import { StoreError } from '../../store/errors.ts';
import { ApiError } from '../errors.ts';
import { parse, requireJson } from '../http.ts';
import { CollectionParams, CreateCollectionBody } from '../schemas.ts';
import type { ApiDeps, ApiRouter } from '../types.ts';

export function collectionRoutes(r: ApiRouter, d: ApiDeps): void {
  const { t, need } = d;

  r.post('/collections', need('admin'), async (ctx) => {
    requireJson(ctx);
    const body = parse(CreateCollectionBody, ctx.request.body);
    if (t.store.getCollection(body.name)) throw new ApiError(409, 'ALREADY_EXISTS', `collection "${body.name}" already exists`, 'name');
    let c;
    try {
      c = await createCollection(t, body.name, body);
    } catch (err) {
      if (err instanceof StoreError || err instanceof EmbedError) throw err;
      throw new ApiError(400, 'INVALID_ARGUMENT', (err as Error).message, 'model');
    }
    ctx.status = 201;
    ctx.body = { ...c, ...t.store.counts(c.name) };
  });

  r.get('/collections', need('read'), async (ctx) => {
    ctx.body = { collections: t.store.listCollections().map((c) => ({ ...c, ...t.store.counts(c.name) })) };
  });

  r.get('/collections/:collection', need('read'), async (ctx) => {
    const { collection } = parse(CollectionParams, ctx.params);
    const c = t.store.requireCollection(collection);
    const stats = await t.indexes.stats(collection);
    const index = await (await t.indexes.index(collection)).stats();
    ctx.body = { ...c, ...stats, indexBytes: index.bytes };
  });

  r.delete('/collections/:collection', need('admin'), async (ctx) => {
    const { collection } = parse(CollectionParams, ctx.params);
    if (!(await t.indexes.deleteCollection(collection))) throw new ApiError(404, 'NOT_FOUND', `no collection named "${collection}"`, 'collection');
    ctx.body = { deleted: collection };
  });
}
