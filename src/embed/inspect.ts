import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { UnsupportedModelError } from './errors.ts';
import { preprocessFromConfig } from './image.ts';
import type { GraphSpec, ModelKind, ModelManifest, Pooling } from './manifest.ts';
import { describeGraph, type GraphIO } from './session.ts';

/** Inputs a text graph may declare; anything else (e.g. position_ids, past_key_values) is refused. */
export const TEXT_INPUTS = new Set(['input_ids', 'attention_mask', 'token_type_ids']);
const INT_TYPES = new Set(['int64', 'int32']);
/** Pooled outputs, in preference order: use them as they are. */
const POOLED_TEXT_OUTPUTS = ['sentence_embedding', 'text_embeds', 'pooled_output_normalized'];
/** Token-state outputs Trellis pools itself. */
const TOKEN_OUTPUTS = ['last_hidden_state', 'token_embeddings'];

export interface InspectOptions {
  kind?: ModelKind;
  pooling?: 'mean' | 'cls';
  maxTokens?: number;
  normalize?: boolean;
}

export type InspectedModel = Pick<ModelManifest, 'kind' | 'graphs' | 'dimension' | 'maxTokens' | 'pooling' | 'normalize' | 'image'>;

async function readJson(file: string): Promise<Record<string, unknown> | null> {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new UnsupportedModelError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Pick the text graph of a Hugging Face / sentence-transformers / plain folder. */
async function findTextOnnx(dir: string): Promise<string> {
  for (const cand of ['onnx/model.onnx', 'model.onnx']) if (existsSync(join(dir, cand))) return cand;
  const onnxDir = join(dir, 'onnx');
  const all = existsSync(onnxDir) ? (await readdir(onnxDir)).filter((f) => f.endsWith('.onnx')).map((f) => `onnx/${f}`) : [];
  const top = (await readdir(dir)).filter((f) => f.endsWith('.onnx'));
  const found = [...all, ...top];
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw new UnsupportedModelError(`no .onnx file in ${dir} (expected onnx/model.onnx or model.onnx)`);
  throw new UnsupportedModelError(`several .onnx files in ${dir} and none named model.onnx: ${found.join(', ')}`);
}

async function graphIO(dir: string, file: string): Promise<{ inputs: GraphIO[]; outputs: GraphIO[] }> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(join(dir, file), { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' });
  } catch (err) {
    throw new UnsupportedModelError(`onnxruntime cannot load ${file}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  try {
    return describeGraph(session);
  } finally {
    await session.release();
  }
}

/** Validate a text graph's declared inputs and choose the output to fetch. Shared by import and load. */
export function checkTextGraph(file: string, io: { inputs: GraphIO[]; outputs: GraphIO[] }): { output: string; pooled: boolean } {
  const names = io.inputs.map((i) => i.name);
  const unknown = io.inputs.filter((i) => !TEXT_INPUTS.has(i.name));
  if (unknown.length > 0 || !names.includes('input_ids')) {
    throw new UnsupportedModelError(
      `${file}: the text runner understands inputs ${[...TEXT_INPUTS].join(', ')} (input_ids required), ` +
        `but the graph declares ${io.inputs.map((i) => `${i.name}:${i.type}`).join(', ')}`,
    );
  }
  const badType = io.inputs.find((i) => !INT_TYPES.has(i.type));
  if (badType) throw new UnsupportedModelError(`${file}: input ${badType.name} has type ${badType.type}; expected int64 or int32`);
  const outs = io.outputs.map((o) => o.name);
  const pooled = POOLED_TEXT_OUTPUTS.find((n) => outs.includes(n));
  if (pooled) return { output: pooled, pooled: true };
  const tokens = TOKEN_OUTPUTS.find((n) => outs.includes(n));
  if (tokens) return { output: tokens, pooled: false };
  throw new UnsupportedModelError(`${file}: no usable output (want one of ${[...POOLED_TEXT_OUTPUTS, ...TOKEN_OUTPUTS].join(', ')}); has ${outs.join(', ')}`);
}

export function checkVisionGraph(file: string, io: { inputs: GraphIO[]; outputs: GraphIO[] }): { output: string } {
  if (io.inputs.length !== 1 || io.inputs[0]!.name !== 'pixel_values' || io.inputs[0]!.type !== 'float32') {
    throw new UnsupportedModelError(
      `${file}: the vision runner understands one float32 input pixel_values, but the graph declares ${io.inputs.map((i) => `${i.name}:${i.type}`).join(', ')}`,
    );
  }
  if (!io.outputs.some((o) => o.name === 'image_embeds')) {
    throw new UnsupportedModelError(`${file}: no image_embeds output (has ${io.outputs.map((o) => o.name).join(', ')})`);
  }
  return { output: 'image_embeds' };
}

function lastDim(io: { outputs: GraphIO[] }, name: string): number | null {
  const shape = io.outputs.find((o) => o.name === name)?.shape ?? [];
  const d = shape[shape.length - 1];
  return typeof d === 'number' && d > 0 ? d : null;
}

/** sentence-transformers folders say CLS vs mean in 1_Pooling/config.json (BGE: CLS; MiniLM, E5: mean). */
async function poolingFromFolder(dir: string): Promise<'mean' | 'cls' | null> {
  const p = await readJson(join(dir, '1_Pooling', 'config.json'));
  if (!p) return null;
  if (p.pooling_mode_cls_token === true) return 'cls';
  if (p.pooling_mode_mean_tokens === true) return 'mean';
  return null;
}

function positiveInt(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v < 1_000_000 ? v : null;
}

/**
 * Look at a model folder and work out everything model.json records: kind, graphs and the output to fetch,
 * dimension, max tokens, pooling. Fails with UnsupportedModelError on anything the runners could not serve,
 * so a bad model is refused at import rather than at the first request.
 */
export async function inspectModelFolder(dir: string, opts: InspectOptions = {}): Promise<InspectedModel> {
  if (!existsSync(join(dir, 'tokenizer.json'))) throw new UnsupportedModelError(`${dir} has no tokenizer.json`);
  const config = (await readJson(join(dir, 'config.json'))) ?? {};
  const tokCfg = (await readJson(join(dir, 'tokenizer_config.json'))) ?? {};
  const isClipLayout = existsSync(join(dir, 'onnx/text_model.onnx')) && existsSync(join(dir, 'onnx/vision_model.onnx'));
  const kind: ModelKind = opts.kind ?? (isClipLayout || config.model_type === 'clip' ? 'clip' : 'text');

  if (kind === 'clip') {
    if (!isClipLayout) throw new UnsupportedModelError(`${dir}: a clip model needs onnx/text_model.onnx and onnx/vision_model.onnx`);
    const tIO = await graphIO(dir, 'onnx/text_model.onnx');
    const vIO = await graphIO(dir, 'onnx/vision_model.onnx');
    const t = checkTextGraph('onnx/text_model.onnx', tIO);
    if (!t.pooled) throw new UnsupportedModelError('onnx/text_model.onnx has no text_embeds output');
    const v = checkVisionGraph('onnx/vision_model.onnx', vIO);
    const textDim = lastDim(tIO, t.output);
    const visionDim = lastDim(vIO, v.output);
    const dimension = textDim ?? visionDim ?? positiveInt(config.projection_dim);
    if (!dimension) throw new UnsupportedModelError(`${dir}: cannot tell the embedding dimension`);
    if (textDim && visionDim && textDim !== visionDim) {
      throw new UnsupportedModelError(`${dir}: text_embeds (${textDim}) and image_embeds (${visionDim}) differ in size`);
    }
    const textCfg = (config.text_config ?? {}) as Record<string, unknown>;
    const image = preprocessFromConfig(await readJson(join(dir, 'preprocessor_config.json')));
    const px = vIO.inputs[0]!.shape;
    if (typeof px[2] === 'number' && typeof px[3] === 'number' && (px[2] !== image.cropHeight || px[3] !== image.cropWidth)) {
      throw new UnsupportedModelError(`${dir}: vision graph takes ${px[2]}x${px[3]} but preprocessing crops ${image.cropHeight}x${image.cropWidth}`);
    }
    return {
      kind,
      graphs: { text: { file: 'onnx/text_model.onnx', ...tIO, output: t.output }, vision: { file: 'onnx/vision_model.onnx', ...vIO, output: v.output } },
      dimension,
      maxTokens: opts.maxTokens ?? positiveInt(textCfg.max_position_embeddings) ?? positiveInt(tokCfg.model_max_length) ?? 77,
      pooling: 'pooled',
      normalize: opts.normalize ?? true,
      image,
    };
  }

  const file = await findTextOnnx(dir);
  const io = await graphIO(dir, file);
  const t = checkTextGraph(file, io);
  const dimension = lastDim(io, t.output) ?? positiveInt(config.embedding_dim) ?? positiveInt(config.hidden_size);
  if (!dimension) throw new UnsupportedModelError(`${dir}: cannot tell the embedding dimension`);
  // The model's own limit: explicit max_seq_length, else the tokenizer's model_max_length, never past the positions table.
  const declared = positiveInt(config.max_seq_length) ?? positiveInt(tokCfg.model_max_length);
  const positions = positiveInt(config.max_position_embeddings);
  const maxTokens = opts.maxTokens ?? (declared && positions ? Math.min(declared, positions) : (declared ?? positions ?? 512));
  const graph: GraphSpec = { file, ...io, output: t.output };
  const pooling: Pooling = t.pooled ? 'pooled' : (opts.pooling ?? (await poolingFromFolder(dir)) ?? 'mean');
  return { kind, graphs: { text: graph }, dimension, maxTokens, pooling, normalize: opts.normalize ?? true };
}
