/**
 * Bench-time random-weight models with real compute shapes, written in the fixtures' layout (so both Trellis and
 * transformers.js load them the way they load real exports). Not committed: they go to os.tmpdir().
 *  - minilm-shaped: all-MiniLM-L6-v2 architecture (6 layers, hidden 384, 12 heads, intermediate 1536) + the real
 *    MiniLM tokenizer/config from ../shared/models/all-MiniLM-L6-v2.
 *  - clip-b32-shaped: CLIP ViT-B/32 vision tower (12 layers, width 768, 12 heads, MLP 3072, patch 32, proj 512) +
 *    a placeholder text tower; real CLIP tokenizer/preprocessor/config from ../shared/models/clip-vit-base-patch32.
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildBert, buildClipTextStub, buildVit } from './onnx-builder.ts';

const SHARED = resolve(process.cwd(), '../shared/models');

function copyAll(from: string, to: string, files: string[]): void {
  mkdirSync(join(to, 'onnx'), { recursive: true });
  for (const f of files) copyFileSync(join(from, f), join(to, f));
}

export async function makeMiniLmShaped(root = join(tmpdir(), 'trellis-bench-models')): Promise<string> {
  const dir = join(root, 'minilm-shaped');
  if (existsSync(join(dir, 'onnx/model.onnx'))) return dir;
  copyAll(join(SHARED, 'all-MiniLM-L6-v2'), dir, ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt']);
  const bytes = await buildBert({ vocab: 30522, hidden: 384, layers: 6, heads: 12, intermediate: 1536, maxPos: 512 });
  writeFileSync(join(dir, 'onnx/model.onnx'), bytes);
  return dir;
}

export async function makeClipB32Shaped(root = join(tmpdir(), 'trellis-bench-models')): Promise<string> {
  const dir = join(root, 'clip-b32-shaped');
  if (existsSync(join(dir, 'onnx/vision_model.onnx'))) return dir;
  copyAll(join(SHARED, 'clip-vit-base-patch32'), dir, [
    'config.json',
    'tokenizer.json',
    'tokenizer_config.json',
    'special_tokens_map.json',
    'vocab.json',
    'merges.txt',
    'preprocessor_config.json',
  ]);
  writeFileSync(join(dir, 'onnx/text_model.onnx'), await buildClipTextStub({ vocab: 49408, width: 64, proj: 512 }));
  writeFileSync(join(dir, 'onnx/vision_model.onnx'), await buildVit({ image: 224, patch: 32, hidden: 768, layers: 12, heads: 12, intermediate: 3072, proj: 512 }));
  return dir;
}
