import type { Context } from 'koa';
import multer from 'multer';
import type { z } from 'zod';
import { ApiError } from './errors.ts';

/** Validates `value` with `schema`; a failure becomes a 400 naming the field (ZodError -> toApiError). */
export function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  return schema.parse(value ?? {});
}

/** 415 unless the request body is JSON. */
export function requireJson(ctx: Context): void {
  if (!ctx.is('application/json')) {
    throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `expected Content-Type: application/json, got ${ctx.get('content-type') || 'none'}`, 'content-type');
  }
}

export function isMultipart(ctx: Context): boolean {
  return ctx.is('multipart/form-data') === 'multipart/form-data';
}

export interface UploadedFile {
  field: string;
  name: string;
  mimetype: string;
  buffer: Buffer;
  size: number;
}

export interface MultipartLimits {
  fileBytes: number;
  files: number;
}

/** Parses a multipart/form-data body into memory (multer), within limits (413 past them). */
export async function readMultipart(ctx: Context, limits: MultipartLimits): Promise<{ fields: Record<string, string>; files: UploadedFile[] }> {
  if (!isMultipart(ctx)) {
    throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `expected Content-Type: multipart/form-data, got ${ctx.get('content-type') || 'none'}`, 'content-type');
  }
  const mw = multer({ storage: multer.memoryStorage(), limits: { fileSize: limits.fileBytes, files: limits.files, fields: 64, fieldSize: 1 << 20 } }).any();
  const req = ctx.req as unknown as Parameters<typeof mw>[0];
  await new Promise<void>((resolve, reject) => mw(req, ctx.res as unknown as Parameters<typeof mw>[1], (err?: unknown) => (err ? reject(err) : resolve())));
  const r = req as unknown as { body?: Record<string, string>; files?: Express.Multer.File[] };
  const files = (r.files ?? []).map((f) => ({ field: f.fieldname, name: Buffer.from(f.originalname, 'latin1').toString('utf8'), mimetype: f.mimetype, buffer: f.buffer, size: f.size }));
  return { fields: { ...(r.body ?? {}) }, files };
}

/** A multipart text field holding JSON (e.g. `filter`, `metadata`): 400 naming the field when it is not JSON. */
export function jsonField(fields: Record<string, string>, name: string): unknown {
  const raw = fields[name];
  if (raw === undefined || raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new ApiError(400, 'INVALID_JSON', `${name}: not valid JSON (${(err as Error).message})`, name);
  }
}

/** A multipart text field holding a number: 400 naming the field when it is not one. */
export function numberField(fields: Record<string, string>, name: string): number | undefined {
  const raw = fields[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new ApiError(400, 'INVALID_ARGUMENT', `${name}: expected a number, got ${JSON.stringify(raw)}`, name);
  return n;
}
