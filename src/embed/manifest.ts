import { z } from 'zod';

/** model.json: everything needed to load and check a registered model without guessing. */
const graphIO = z.object({ name: z.string(), type: z.string(), shape: z.array(z.union([z.number(), z.string()])) });

export const graphSpecSchema = z.object({
  /** Path of the .onnx file, relative to the model folder. */
  file: z.string(),
  inputs: z.array(graphIO),
  outputs: z.array(graphIO),
  /** The one output the runner fetches. */
  output: z.string(),
});

export const manifestSchema = z.object({
  format: z.literal(1),
  name: z.string(),
  version: z.string(),
  kind: z.enum(['text', 'clip']),
  createdAt: z.string(),
  labels: z.record(z.string(), z.string()),
  files: z.array(z.object({ path: z.string(), bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
  dimension: z.number().int().positive(),
  /** Max tokens per text, special tokens included. */
  maxTokens: z.number().int().positive(),
  /** mean / cls: pooled by Trellis over last_hidden_state; pooled: the graph outputs the sentence/text vector. */
  pooling: z.enum(['mean', 'cls', 'pooled']),
  normalize: z.boolean(),
  onnxruntimeVersion: z.string(),
  graphs: z.object({ text: graphSpecSchema, vision: graphSpecSchema.optional() }),
  image: z
    .object({
      shortestEdge: z.number(),
      cropWidth: z.number(),
      cropHeight: z.number(),
      rescale: z.number(),
      mean: z.tuple([z.number(), z.number(), z.number()]),
      std: z.tuple([z.number(), z.number(), z.number()]),
    })
    .optional(),
});

export type ModelManifest = z.infer<typeof manifestSchema>;
export type GraphSpec = z.infer<typeof graphSpecSchema>;
export type ModelKind = ModelManifest['kind'];
export type Pooling = ModelManifest['pooling'];
