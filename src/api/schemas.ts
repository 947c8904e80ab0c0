import { z } from 'zod';

/**
 * Every request body, query and path parameter the API accepts, as zod schemas. The same objects validate
 * requests (routes call `parse`) and generate /openapi.json (`z.toJSONSchema`), so the two cannot drift.
 */

export const CollectionName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'letters, digits, _ and -, starting with a letter or digit, at most 64');
export const CollectionParams = z.object({ collection: CollectionName });
export const JobParams = z.object({ id: z.string().min(1).max(128) });
export const DocumentParams = z.object({ collection: CollectionName, id: z.string().min(1).max(4096) });

export const CreateCollectionBody = z
  .object({
    name: CollectionName,
    model: z.string().min(1).max(256).optional().describe('embedding model tag (default: the configured text model)'),
    kind: z.enum(['text', 'image']).default('text'),
    metric: z.enum(['cosine', 'l2', 'ip']).default('cosine'),
    m: z.int().min(2).max(256).optional(),
    efConstruction: z.int().min(1).max(4096).optional(),
    efSearch: z.int().min(1).max(4096).optional(),
    backend: z.enum(['trellis', 'hnswlib', 'flat']).default('trellis'),
  })
  .strict();

const MetadataValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.string()), z.null()]);
export const Metadata = z.record(z.string(), MetadataValue).describe('string, number, boolean or list of strings values');
export const Filter = z.record(z.string(), z.unknown()).describe('Pinecone-style metadata filter, e.g. {"year": {"$gte": 2020}}');
const Vector = z.array(z.number().refine(Number.isFinite, 'must be a finite number')).min(1).max(65536);

export const DocumentInput = z
  .object({
    id: z.string().min(1).max(4096),
    text: z.string().min(1).optional().describe('chunked and embedded with the collection model'),
    vector: Vector.optional().describe('a precomputed vector (one chunk); `text` is then stored as its text'),
    source: z.string().max(4096).optional(),
    metadata: Metadata.optional(),
    chunkSize: z.int().min(8).max(8192).optional(),
    chunkOverlap: z.int().min(0).max(8191).optional(),
  })
  .strict()
  .refine((d) => d.text !== undefined || d.vector !== undefined, { message: 'give text or vector', path: ['text'] });

export const UpsertDocumentsBody = z.object({ documents: z.array(DocumentInput).min(1).max(1000) }).strict();

export const DeleteDocumentsBody = z
  .object({ ids: z.array(z.string().min(1)).min(1).max(10000).optional(), filter: Filter.optional() })
  .strict()
  .refine((b) => (b.ids === undefined) !== (b.filter === undefined), { message: 'give exactly one of ids or filter', path: ['ids'] });

export const SearchInclude = z.enum(['text', 'metadata', 'documentId', 'source', 'page']);
export const SearchBody = z
  .object({
    text: z.string().min(1).max(65536).optional(),
    vector: Vector.optional(),
    k: z.int().min(1).max(1000).default(10),
    filter: Filter.optional(),
    efSearch: z.int().min(1).max(4096).optional(),
    mode: z.enum(['vector', 'keyword', 'hybrid']).default('vector'),
    weights: z.object({ vector: z.number().min(0).optional(), keyword: z.number().min(0).optional() }).strict().optional(),
    include: z.array(SearchInclude).optional().describe('fields of each result (default all); id and score are always there'),
  })
  .strict();

export const SearchResult = z.object({
  id: z.string(),
  score: z.number(),
  text: z.string().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  documentId: z.string().optional(),
  source: z.string().nullable().optional(),
  page: z.number().nullable().optional(),
});
export const SearchResponse = z.object({ results: z.array(SearchResult), timings: z.record(z.string(), z.number()) });

export const AskBody = z
  .object({
    question: z.string().min(1).max(8192),
    k: z.int().min(1).max(100).default(5),
    filter: Filter.optional(),
    mode: z.enum(['vector', 'keyword', 'hybrid']).optional(),
    efSearch: z.int().min(1).max(4096).optional(),
    maxContextTokens: z.int().min(16).max(1_000_000).optional(),
    provider: z.enum(['extractive', 'openai-compatible', 'local']).optional().describe('default: the configured provider'),
    stream: z.boolean().default(false).describe('stream as server-sent events: citations, token..., done'),
  })
  .strict();

export const Citation = z.object({
  n: z.number(),
  id: z.string(),
  documentId: z.string(),
  source: z.string().nullable(),
  page: z.number().nullable(),
  score: z.number(),
  text: z.string(),
});
export const AskResponse = z.object({
  answer: z.string(),
  citations: z.array(Citation),
  sources: z.array(Citation).optional(),
  steps: z.unknown(),
  timings: z.record(z.string(), z.number()),
  provider: z.unknown(),
  refused: z.unknown().optional(),
});

export const JobSubmitBody = z
  .object({ kind: z.string().min(1).max(64), params: z.record(z.string(), z.unknown()).default({}) })
  .strict();
export const JobListQuery = z.object({
  state: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

export const EmbeddingsBody = z
  .object({
    input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(2048)]),
    model: z.string().min(1).max(256).describe('a collection name (its model) or a model tag'),
    encoding_format: z.enum(['float', 'base64']).default('float'),
    dimensions: z.int().min(1).optional(),
    user: z.string().optional(),
  })
  .strict();

export const EmbeddingsResponse = z.object({
  object: z.literal('list'),
  data: z.array(z.object({ object: z.literal('embedding'), index: z.number(), embedding: z.union([z.array(z.number()), z.string()]) })),
  model: z.string(),
  usage: z.object({ prompt_tokens: z.number(), total_tokens: z.number() }),
});

export const ErrorResponse = z.object({
  error: z.object({ code: z.string(), message: z.string(), field: z.string().optional(), type: z.string() }),
});

export const UploadForm = z.object({
  files: z.array(z.string().meta({ format: 'binary' })).describe('one or more files (txt, md, html, pdf, json, jsonl, csv, images)'),
  metadata: z.string().optional().describe('JSON object added to every document'),
  chunkSize: z.string().optional(),
  chunkOverlap: z.string().optional(),
});
export const ImageSearchForm = z.object({
  image: z.string().meta({ format: 'binary' }),
  k: z.string().optional(),
  filter: z.string().optional().describe('JSON filter'),
  efSearch: z.string().optional(),
});
