import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelIntegrityError, ModelNotFoundError, ModelRegistry, UnsupportedModelError } from '../../src/embed/index.ts';
import { BERT_DIR, CLIP_DIR, makeService, tempHome } from './helpers.ts';

describe('model registry', () => {
  it('imports a Hugging Face folder as it is; version is a hash of the files, so re-import gives the same tag', async () => {
    const reg = new ModelRegistry(tempHome());
    const a = await reg.importDir(BERT_DIR, { name: 'minilm-like', labels: { team: 'search' } });
    expect(a.manifest.version).toMatch(/^[0-9a-f]{12}$/);
    expect(a.manifest.kind).toBe('text');
    expect(a.manifest.pooling).toBe('mean');
    expect(a.manifest.maxTokens).toBe(512);
    expect(a.manifest.graphs.text.inputs.map((i) => i.name).sort()).toEqual(['attention_mask', 'input_ids', 'token_type_ids']);
    expect(a.manifest.files.find((f) => f.path === 'onnx/model.onnx')?.sha256).toBe('5e5afb0d23100666cbc606a65743a14247c087efa1e0133537812524c816b1ee');
    const again = await new ModelRegistry(tempHome()).importDir(BERT_DIR, { name: 'minilm-like' });
    expect(again.manifest.version).toBe(a.manifest.version);
  });

  it('resolves name, name:latest (newest) and name:version; unknown tags fail clearly', async () => {
    const reg = new ModelRegistry(tempHome());
    const v1 = await reg.importDir(BERT_DIR, { name: 'm' });
    // A second version: same model, one extra file (labels do not change the version; files do).
    const dir2 = join(tempHome(), 'bert2');
    cpSync(BERT_DIR, dir2, { recursive: true });
    writeFileSync(join(dir2, 'NOTES.md'), 'v2\n');
    await new Promise((r) => setTimeout(r, 5));
    const v2 = await reg.importDir(dir2, { name: 'm' });
    expect(v2.manifest.version).not.toBe(v1.manifest.version);
    expect((await reg.resolve('m')).manifest.version).toBe(v2.manifest.version);
    expect((await reg.resolve('m:latest')).manifest.version).toBe(v2.manifest.version);
    expect((await reg.resolve(`m:${v1.manifest.version}`)).manifest.version).toBe(v1.manifest.version);
    await expect(reg.resolve('m:ffffffffffff')).rejects.toBeInstanceOf(ModelNotFoundError);
    await expect(reg.resolve('no-such-model')).rejects.toThrow(/unknown model "no-such-model"/);
    await reg.delete(`m:${v2.manifest.version}`);
    expect((await reg.resolve('m')).manifest.version).toBe(v1.manifest.version);
  });

  it('refuses to load a model whose files no longer match their sha256', async () => {
    const home = tempHome();
    const reg = new ModelRegistry(home);
    const r = await reg.importDir(BERT_DIR, { name: 'tampered' });
    appendFileSync(join(r.dir, 'tokenizer.json'), ' ');
    await expect(reg.resolve('tampered')).rejects.toBeInstanceOf(ModelIntegrityError);
    await expect(reg.resolve('tampered')).rejects.toThrow(/tokenizer\.json has sha256 .* but model\.json records/);
    const svc = makeService(home);
    await expect(svc.embedTexts(['hello'], { model: 'tampered' })).rejects.toMatchObject({ code: 'MODEL_INTEGRITY' });
    await svc.close();
  });

  it('exports to a tar and imports it elsewhere bit for bit', async () => {
    const a = new ModelRegistry(tempHome());
    const r = await a.importDir(CLIP_DIR, { name: 'clip' });
    const tarFile = join(tempHome(), 'clip.tar');
    await a.exportTar('clip', tarFile);
    const b = new ModelRegistry(tempHome());
    const r2 = await b.importTar(tarFile);
    expect(r2.tag).toBe(r.tag);
    expect(r2.manifest.files).toEqual(r.manifest.files);
  });

  it('refuses an ONNX whose inputs the runner does not understand, at import', async () => {
    // The CLIP vision tower (input pixel_values) offered as a text model.
    const dir = join(tempHome(), 'weird');
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    copyFileSync(join(CLIP_DIR, 'onnx/vision_model.onnx'), join(dir, 'onnx/model.onnx'));
    copyFileSync(join(BERT_DIR, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    const reg = new ModelRegistry(tempHome());
    await expect(reg.importDir(dir, { name: 'weird' })).rejects.toBeInstanceOf(UnsupportedModelError);
    await expect(reg.importDir(dir, { name: 'weird' })).rejects.toThrow(/understands inputs .* declares pixel_values:float32/);
    await expect(reg.importDir(join(dir, 'nope'), { name: 'x' })).rejects.toBeInstanceOf(ModelNotFoundError);
  });

  it('CLI: models import / list / get / export / delete', () => {
    const home = tempHome();
    const env = { ...process.env, TRELLIS_HOME: home };
    const cli = (...args: string[]) => execFileSync(process.execPath, ['bin/trellis.mjs', 'models', ...args], { env, encoding: 'utf8' });
    expect(cli('import', BERT_DIR, '--name', 'tiny-bert')).toMatch(/imported tiny-bert:[0-9a-f]{12} \(text, dim 32/);
    const list = cli('list');
    expect(list).toMatch(/tiny-bert:/);
    expect(list).toMatch(/trellis-static-wp256:/);
    expect(JSON.parse(cli('get', 'tiny-bert:latest')).dimension).toBe(32);
    const tarFile = join(home, 'out.tar');
    cli('export', 'tiny-bert', tarFile);
    expect(existsSync(tarFile)).toBe(true);
    expect(cli('delete', 'tiny-bert')).toMatch(/deleted tiny-bert:/);
    expect(cli('import', tarFile)).toMatch(/imported tiny-bert:/);
    expect(() => execFileSync(process.execPath, ['bin/trellis.mjs', 'models', 'get', 'missing'], { env, stdio: 'pipe' })).toThrow(/unknown model "missing"/);
  });
});
