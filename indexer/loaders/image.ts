import sharp, { type Metadata } from 'sharp';
import { LoaderError, type LoadedDocument } from './types.ts';

/** Images are embedded by the CLIP runner, which decodes them itself; here we only check and describe them. */
export async function loadImage(bytes: Uint8Array, name: string): Promise<LoadedDocument[]> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes).metadata();
  } catch (err) {
    throw new LoaderError(`${name} is not a readable image: ${(err as Error).message}`, { cause: err });
  }
  const metadata: LoadedDocument['metadata'] = {};
  if (meta.width) metadata.width = meta.width;
  if (meta.height) metadata.height = meta.height;
  if (meta.format) metadata.format = meta.format;
  return [{ key: '', kind: 'image', sections: [], image: bytes, metadata }];
}
