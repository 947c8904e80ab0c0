import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import { EmbedError, ModelIntegrityError, ModelNotFoundError, UnsupportedModelError } from './errors.ts';
import { inspectModelFolder, type InspectOptions } from './inspect.ts';
import { manifestSchema, type ModelManifest } from './manifest.ts';
import { ORT_VERSION } from './session.ts';

/** The shipped default text model, committed under data/models so a fresh clone embeds offline. */
export const DEFAULT_MODEL_NAME = 'trellis-static-wp256';
export const DEFAULT_MODEL_DIR = fileURLToPath(new URL(`../../data/models/${DEFAULT_MODEL_NAME}`, import.meta.url));

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;
const MANIFEST = 'model.json';

export interface ImportOptions extends InspectOptions {
  name: string;
  labels?: Record<string, string>;
}

export interface ResolvedModel {
  manifest: ModelManifest;
  /** Folder holding the model's files and model.json. */
  dir: string;
  /** name:version */
  tag: string;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Version = hash over (path, sha256) of every file: the same files give the same version on any machine. */
export function versionOf(files: { path: string; sha256: string }[]): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) h.update(`${f.path}\0${f.sha256}\n`);
  return h.digest('hex').slice(0, 12);
}

async function listFiles(root: string, dir = root): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(root, p)));
    else if (e.isFile() && !(dir === root && e.name === MANIFEST)) out.push(relative(root, p).split(sep).join('/'));
  }
  return out.sort();
}

export function parseTag(tag: string): { name: string; version: string | null } {
  const i = tag.lastIndexOf(':');
  const name = i < 0 ? tag : tag.slice(0, i);
  const v = i < 0 ? null : tag.slice(i + 1);
  return { name, version: v === null || v === '' || v === 'latest' ? null : v };
}

/**
 * Model store under `TRELLIS_HOME/models/<name>/<version>/`. Each version folder holds the model's files plus a
 * model.json with a sha256 per file. Writes go to a temporary folder first and are renamed into place, so a crashed
 * import never leaves a half-written version that looks valid.
 */
export class ModelRegistry {
  readonly root: string;

  constructor(home: string) {
    this.root = resolve(home, 'models');
  }

  /** Import a model folder (Hugging Face layout works as it is). Importing the same files again is a no-op. */
  async importDir(srcDir: string, opts: ImportOptions): Promise<ResolvedModel> {
    if (!NAME_RE.test(opts.name)) throw new EmbedError('BAD_NAME', `model name "${opts.name}" must match ${NAME_RE}`);
    const src = resolve(srcDir);
    if (!existsSync(src) || !(await stat(src)).isDirectory()) throw new ModelNotFoundError(`model folder ${src} does not exist`);
    const inspected = await inspectModelFolder(src, opts);
    const paths = await listFiles(src);
    const files = [];
    for (const p of paths) files.push({ path: p, bytes: (await stat(join(src, p))).size, sha256: await sha256File(join(src, p)) });
    const version = versionOf(files);
    const existing = join(this.root, opts.name, version);
    if (existsSync(join(existing, MANIFEST))) return this.load(opts.name, version);

    const manifest: ModelManifest = {
      format: 1,
      name: opts.name,
      version,
      ...inspected,
      createdAt: new Date().toISOString(),
      labels: opts.labels ?? {},
      files,
      onnxruntimeVersion: ORT_VERSION,
    };
    const tmp = await this.tmpDir();
    try {
      for (const f of files) {
        await mkdir(dirname(join(tmp, f.path)), { recursive: true });
        await copyFile(join(src, f.path), join(tmp, f.path));
      }
      await writeFile(join(tmp, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
      await this.commit(tmp, opts.name, version);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return this.load(opts.name, version);
  }

  /** All registered versions, newest first within a name. Registers the shipped default first if needed. */
  async list(): Promise<ModelManifest[]> {
    await this.ensureDefault();
    const out: ModelManifest[] = [];
    if (!existsSync(this.root)) return out;
    for (const name of (await readdir(this.root)).sort()) {
      if (name.startsWith('.')) continue;
      for (const m of await this.versionsOf(name)) out.push(m);
    }
    return out;
  }

  /**
   * Resolve `name`, `name:latest` (newest version) or `name:version` and verify every file's sha256.
   * Throws ModelNotFoundError / ModelIntegrityError.
   */
  async resolve(tag: string, { verify = true }: { verify?: boolean } = {}): Promise<ResolvedModel> {
    const { name, version } = parseTag(tag);
    if (name === DEFAULT_MODEL_NAME) await this.ensureDefault();
    const versions = NAME_RE.test(name) ? await this.versionsOf(name) : [];
    if (versions.length === 0) {
      const known = (await this.list()).map((m) => m.name);
      throw new ModelNotFoundError(`unknown model "${tag}"; registered: ${[...new Set(known)].join(', ') || 'none'} (add one with \`trellis models import\`)`);
    }
    const hit = version === null ? versions[0] : versions.find((m) => m.version === version);
    if (!hit) throw new ModelNotFoundError(`model "${name}" has no version "${version}"; versions: ${versions.map((m) => m.version).join(', ')}`);
    return this.load(name, hit.version, verify);
  }

  /** Delete one version (`name:version`, or the newest for `name` / `name:latest`). */
  async delete(tag: string): Promise<ModelManifest> {
    const r = await this.resolve(tag, { verify: false });
    await rm(r.dir, { recursive: true, force: true });
    const nameDir = join(this.root, r.manifest.name);
    if (existsSync(nameDir) && (await readdir(nameDir)).length === 0) await rm(nameDir, { recursive: true, force: true });
    return r.manifest;
  }

  /** Write a tar of the version folder (model.json + files); `importTar` on another machine restores it bit for bit. */
  async exportTar(tag: string, file: string): Promise<ResolvedModel> {
    const r = await this.resolve(tag);
    await mkdir(dirname(resolve(file)), { recursive: true });
    await tar.create({ file: resolve(file), cwd: r.dir, portable: true, gzip: false }, [MANIFEST, ...r.manifest.files.map((f) => f.path)]);
    return r;
  }

  async importTar(file: string): Promise<ResolvedModel> {
    if (!existsSync(file)) throw new ModelNotFoundError(`archive ${file} does not exist`);
    const tmp = await this.tmpDir();
    try {
      try {
        // strict: a corrupt archive is an error, not a partial extraction; no absolute paths or ".." (tar's default).
        await tar.extract({ file: resolve(file), cwd: tmp, strict: true });
      } catch (err) {
        throw new ModelIntegrityError(`cannot read ${file} as a model archive: ${(err as Error).message}`);
      }
      const manifest = await this.readManifest(tmp);
      if (!NAME_RE.test(manifest.name)) throw new ModelIntegrityError(`archive names an invalid model "${manifest.name}"`);
      await verifyFiles(tmp, manifest);
      if (versionOf(manifest.files) !== manifest.version) {
        throw new ModelIntegrityError(`archive's model.json version ${manifest.version} does not match its files (${versionOf(manifest.files)})`);
      }
      if (!existsSync(join(this.root, manifest.name, manifest.version, MANIFEST))) await this.commit(tmp, manifest.name, manifest.version);
      return this.load(manifest.name, manifest.version);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Register data/models/trellis-static-wp256 the first time anything asks for models. */
  async ensureDefault(): Promise<void> {
    if ((await this.versionsOf(DEFAULT_MODEL_NAME)).length > 0) return;
    if (!existsSync(DEFAULT_MODEL_DIR)) return;
    await this.importDir(DEFAULT_MODEL_DIR, { name: DEFAULT_MODEL_NAME, labels: { source: 'shipped default' } });
  }

  private async versionsOf(name: string): Promise<ModelManifest[]> {
    const dir = join(this.root, name);
    if (!NAME_RE.test(name) || !existsSync(dir)) return [];
    const out: ModelManifest[] = [];
    for (const v of await readdir(dir)) {
      if (!existsSync(join(dir, v, MANIFEST))) continue;
      try {
        out.push(await this.readManifest(join(dir, v)));
      } catch {
        // unreadable model.json: skipped in listings; resolving it by version reports the error
      }
    }
    // Newest first; ties broken by version so the order is stable.
    return out.sort((a, b) => (a.createdAt === b.createdAt ? (a.version < b.version ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1));
  }

  private async load(name: string, version: string, verify = true): Promise<ResolvedModel> {
    const dir = join(this.root, name, version);
    const manifest = await this.readManifest(dir);
    if (verify) await verifyFiles(dir, manifest);
    return { manifest, dir, tag: `${name}:${version}` };
  }

  private async readManifest(dir: string): Promise<ModelManifest> {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8'));
    } catch (err) {
      throw new ModelIntegrityError(`cannot read ${join(dir, MANIFEST)}: ${(err as Error).message}`);
    }
    const parsed = manifestSchema.safeParse(raw);
    if (!parsed.success) throw new UnsupportedModelError(`${join(dir, MANIFEST)} is not a valid model manifest: ${parsed.error.message}`);
    return parsed.data;
  }

  private async tmpDir(): Promise<string> {
    const tmp = join(this.root, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(tmp, { recursive: true });
    return tmp;
  }

  private async commit(tmp: string, name: string, version: string): Promise<void> {
    const dest = join(this.root, name, version);
    await mkdir(dirname(dest), { recursive: true });
    try {
      await rename(tmp, dest);
    } catch (err) {
      // Another process committed the same version first: identical content by construction.
      if (!existsSync(join(dest, MANIFEST))) throw err;
    }
  }
}

/** Check every recorded file's size and sha256; a mismatch names the file. */
export async function verifyFiles(dir: string, manifest: ModelManifest): Promise<void> {
  for (const f of manifest.files) {
    const p = join(dir, f.path);
    if (f.path.split('/').includes('..')) throw new ModelIntegrityError(`model.json lists an unsafe path ${f.path}`);
    if (!existsSync(p)) throw new ModelIntegrityError(`model ${manifest.name}:${manifest.version} is missing file ${f.path}`);
    const got = await sha256File(p);
    if (got !== f.sha256) {
      throw new ModelIntegrityError(
        `model ${manifest.name}:${manifest.version}: ${f.path} has sha256 ${got}, but model.json records ${f.sha256}; the file was changed or corrupted, refusing to load it (re-import the model)`,
      );
    }
  }
}
