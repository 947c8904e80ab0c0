import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { ImageTooLargeError, InvalidImageError } from './errors.ts';

/** CLIP-style preprocessing settings (from the model's preprocessor_config.json). */
export interface ImagePreprocess {
  shortestEdge: number;
  cropWidth: number;
  cropHeight: number;
  rescale: number;
  mean: [number, number, number];
  std: [number, number, number];
}

export const CLIP_DEFAULT_PREPROCESS: ImagePreprocess = {
  shortestEdge: 224,
  cropWidth: 224,
  cropHeight: 224,
  rescale: 1 / 255,
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
};

/** Reads preprocessor_config.json fields (CLIPImageProcessor layout), falling back to CLIP's defaults. */
export function preprocessFromConfig(cfg: Record<string, unknown> | null): ImagePreprocess {
  if (!cfg) return CLIP_DEFAULT_PREPROCESS;
  const size = cfg.size as { shortest_edge?: number } | number | undefined;
  const crop = cfg.crop_size as { width?: number; height?: number } | number | undefined;
  const shortestEdge = typeof size === 'number' ? size : (size?.shortest_edge ?? 224);
  const cropWidth = typeof crop === 'number' ? crop : (crop?.width ?? shortestEdge);
  const cropHeight = typeof crop === 'number' ? crop : (crop?.height ?? shortestEdge);
  const triple = (v: unknown, d: [number, number, number]): [number, number, number] =>
    Array.isArray(v) && v.length === 3 ? [Number(v[0]), Number(v[1]), Number(v[2])] : typeof v === 'number' ? [v, v, v] : d;
  return {
    shortestEdge,
    cropWidth,
    cropHeight,
    rescale: typeof cfg.rescale_factor === 'number' ? cfg.rescale_factor : 1 / 255,
    mean: triple(cfg.image_mean, CLIP_DEFAULT_PREPROCESS.mean),
    std: triple(cfg.image_std, CLIP_DEFAULT_PREPROCESS.std),
  };
}

/**
 * Decode + CLIP preprocessing into CHW float32 (one image of the NCHW batch).
 *
 * Steps and why they are this way:
 * 1. `sharp(...).metadata()` reads only the header, so a 20000x20000 image is refused before its pixels are decoded.
 * 2. Decode with EXIF orientation applied, drop alpha (CLIP is RGB), grey -> 3 channels. `failOn: 'warning'` turns a
 *    truncated JPEG into an error instead of silently grey-filled pixels.
 * 3. Resize the short side to 224 with bicubic *affine* resampling and crop the centre (floor offsets): the exact
 *    operations transformers.js uses in Node, so vectors match it. (PIL, used by Python CLIP, antialiases when
 *    downscaling; the difference is a few grey levels, see docs/embedding.md.)
 * 4. x * rescale, then (x - mean) / std per channel, planar.
 */
export async function preprocessImage(bytes: Uint8Array, pre: ImagePreprocess, maxPixels: number): Promise<Float32Array> {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0) throw new InvalidImageError('image is empty');
  let meta: Metadata;
  try {
    // No pixel limit here: metadata() reads the header only, and our own check below gives the clearer error.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new InvalidImageError(`not a decodable image: ${(err as Error).message}`, { cause: err });
  }
  const w0 = meta.width ?? 0;
  const h0 = meta.height ?? 0;
  if (!w0 || !h0) throw new InvalidImageError('image has no dimensions');
  if (w0 * h0 > maxPixels) {
    throw new ImageTooLargeError(`image is ${w0}x${h0} = ${w0 * h0} pixels, above the limit of ${maxPixels} (embed.maxImagePixels)`);
  }

  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'warning' })
      .rotate()
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new InvalidImageError(`image could not be decoded (truncated or corrupt?): ${(err as Error).message}`, { cause: err });
  }
  let { data, info } = raw;
  if (info.channels === 1) {
    const rgb = Buffer.allocUnsafe(info.width * info.height * 3);
    for (let i = 0, j = 0; i < data.length; i++, j += 3) rgb[j] = rgb[j + 1] = rgb[j + 2] = data[i]!;
    data = rgb;
    info = { ...info, channels: 3 };
  } else if (info.channels !== 3) {
    throw new InvalidImageError(`unsupported channel count ${info.channels}`);
  }

  const { width: W, height: H } = info;
  const [newW, newH] = resizeTarget(W, H, pre.shortestEdge);
  let rw = W;
  let rh = H;
  if (newW !== W || newH !== H) {
    const r = await sharp(data, { raw: { width: W, height: H, channels: 3 } })
      .affine([newW / W, 0, 0, newH / H], { interpolator: 'bicubic' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    data = r.data;
    rw = r.info.width;
    rh = r.info.height;
  }
  return cropNormalize(data, rw, rh, pre);
}

/** transformers.js's shortest-edge rule: scale = edge / min(W, H), then floor(toFixed(2)). */
function resizeTarget(w: number, h: number, edge: number): [number, number] {
  const f = Math.max(edge / w, edge / h);
  return [Math.floor(Number((w * f).toFixed(2))), Math.floor(Number((h * f).toFixed(2)))];
}

function cropNormalize(data: Buffer, w: number, h: number, pre: ImagePreprocess): Float32Array {
  const cw = pre.cropWidth;
  const ch = pre.cropHeight;
  const left = Math.floor((w - cw) / 2);
  const top = Math.floor((h - ch) / 2);
  const plane = cw * ch;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const m = pre.mean[c]!;
    const s = pre.std[c]!;
    const zero = (0 - m) / s; // pixels outside a too-small image are padded black, as transformers.js pads
    for (let y = 0; y < ch; y++) {
      const sy = y + top;
      for (let x = 0; x < cw; x++) {
        const sx = x + left;
        const o = c * plane + y * cw + x;
        if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
          out[o] = zero;
          continue;
        }
        // Match transformers.js's float32 arithmetic order: (x * rescale) rounded to f32, then (x - mean) / std.
        const v = Math.fround(data[(sy * w + sx) * 3 + c]! * pre.rescale);
        out[o] = (v - m) / s;
      }
    }
  }
  return out;
}
