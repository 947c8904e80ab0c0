import { z } from 'zod';
import * as S from './schemas.ts';

interface RouteDoc {
  method: 'get' | 'post' | 'delete';
  path: string;
  summary: string;
  scope?: 'read' | 'write' | 'admin';
  tag: string;
  body?: z.ZodType;
  multipart?: z.ZodType;
  query?: z.ZodObject;
  response?: z.ZodType;
  status?: number;
  stream?: boolean;
}

const ROUTES: RouteDoc[] = [
  { method: 'get', path: '/healthz', summary: 'liveness', tag: 'system' },
  { method: 'get', path: '/readyz', summary: 'readiness: 503 + Retry-After until models and indexes are loaded', tag: 'system' },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics', tag: 'system' },
  { method: 'post', path: '/v1/collections', summary: 'create a collection', scope: 'admin', tag: 'collections', body: S.CreateCollectionBody, status: 201 },
  { method: 'get', path: '/v1/collections', summary: 'list collections with counts', scope: 'read', tag: 'collections' },
  { method: 'get', path: '/v1/collections/{collection}', summary: 'a collection with its stats', scope: 'read', tag: 'collections' },
  { method: 'delete', path: '/v1/collections/{collection}', summary: 'delete a collection, its documents and index', scope: 'admin', tag: 'collections' },
  { method: 'post', path: '/v1/collections/{collection}/documents', summary: 'upsert documents (text is chunked and embedded; or a precomputed vector)', scope: 'write', tag: 'documents', body: S.UpsertDocumentsBody },
  { method: 'post', path: '/v1/collections/{collection}/documents/upload', summary: 'upload files through the ingest pipeline (large uploads: 202 + job)', scope: 'write', tag: 'documents', multipart: S.UploadForm },
  { method: 'post', path: '/v1/collections/{collection}/documents/delete', summary: 'delete documents by ids or by metadata filter', scope: 'write', tag: 'documents', body: S.DeleteDocumentsBody },
  { method: 'get', path: '/v1/collections/{collection}/documents/{id}', summary: 'a document with its chunks (?vectors=true adds vectors)', scope: 'read', tag: 'documents' },
  { method: 'delete', path: '/v1/collections/{collection}/documents/{id}', summary: 'delete one document', scope: 'write', tag: 'documents' },
  { method: 'post', path: '/v1/collections/{collection}/search', summary: 'search by text, vector (JSON) or image (multipart)', scope: 'read', tag: 'search', body: S.SearchBody, multipart: S.ImageSearchForm, response: S.SearchResponse },
  { method: 'post', path: '/v1/collections/{collection}/ask', summary: 'a cited answer (stream: true gives server-sent events citations, token, done)', scope: 'read', tag: 'ask', body: S.AskBody, response: S.AskResponse, stream: true },
  { method: 'post', path: '/v1/embeddings', summary: 'OpenAI-compatible embeddings (model: collection name or model tag)', scope: 'read', tag: 'embeddings', body: S.EmbeddingsBody, response: S.EmbeddingsResponse },
  { method: 'post', path: '/v1/jobs', summary: 'submit a job ({kind: "ingest", params: {collection, paths}}, ...)', scope: 'write', tag: 'jobs', body: S.JobSubmitBody, status: 202 },
  { method: 'get', path: '/v1/jobs', summary: 'list jobs', scope: 'write', tag: 'jobs', query: S.JobListQuery },
  { method: 'get', path: '/v1/jobs/{id}', summary: 'a job: state and progress', scope: 'write', tag: 'jobs' },
  { method: 'get', path: '/v1/jobs/{id}/result', summary: "a succeeded job's result", scope: 'write', tag: 'jobs' },
  { method: 'post', path: '/v1/jobs/{id}/cancel', summary: 'cancel a job', scope: 'write', tag: 'jobs' },
  { method: 'post', path: '/v1/jobs/{id}/retry', summary: 'retry a failed or cancelled job', scope: 'write', tag: 'jobs', status: 202 },
];

const schema = (s: z.ZodType, io: 'input' | 'output' = 'input'): Record<string, unknown> => {
  const j = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete j.$schema;
  return j;
};

const errorResponses = (scope?: string): Record<string, unknown> => {
  const ref = { content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  const out: Record<string, unknown> = {
    '400': { description: 'invalid request: `error.field` names the field', ...ref },
    '404': { description: 'unknown collection, document or job', ...ref },
    '503': { description: 'not ready or embedding queue full (Retry-After)', ...ref },
  };
  if (scope) {
    out['401'] = { description: 'missing, unknown, expired or revoked token', ...ref };
    out['403'] = { description: `token scope below ${scope}`, ...ref };
    out['429'] = { description: 'rate limited (Retry-After)', ...ref };
  }
  return out;
};

/** The OpenAPI 3.1 document, generated from the zod schemas the routes validate with. */
export function openApiDocument(opts: { version?: string } = {}): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    if (r.query) {
      for (const [name, s] of Object.entries(r.query.shape)) params.push({ name, in: 'query', required: false, schema: schema(s as z.ZodType) as { type: string } });
    }
    const content: Record<string, unknown> = {};
    if (r.body) content['application/json'] = { schema: schema(r.body) };
    if (r.multipart) content['multipart/form-data'] = { schema: schema(r.multipart) };
    const ok: Record<string, unknown> = { description: 'success' };
    if (r.response) ok.content = { 'application/json': { schema: schema(r.response, 'output') }, ...(r.stream ? { 'text/event-stream': { schema: { type: 'string' } } } : {}) };
    paths[r.path] ??= {};
    paths[r.path]![r.method] = {
      summary: r.summary,
      tags: [r.tag],
      ...(params.length ? { parameters: params } : {}),
      ...(Object.keys(content).length ? { requestBody: { required: true, content } } : {}),
      ...(r.scope ? { security: [{ bearer: [] }], description: `Needs a token with scope \`${r.scope}\`${r.scope === 'read' ? ' (or none when the server runs with --public)' : ''}.` } : {}),
      responses: { [String(r.status ?? 200)]: ok, ...errorResponses(r.scope) },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Trellis', version: opts.version ?? '0.1.0', description: 'Vector search and RAG: collections, documents, search, cited answers, jobs, OpenAI-compatible embeddings.' },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API token from `trellis tokens create`' } },
      schemas: { Error: schema(S.ErrorResponse, 'output') },
    },
  };
}
