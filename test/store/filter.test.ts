import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilterError, parseFilter, type Store } from '../../src/store/index.ts';
import { newStore, rng, tempDir } from './helpers.ts';

/**
 * The filter language compiles two independent ways: SQL over the stored metadata JSON (what allowSet / keyword search /
 * delete-by-filter use) and a JS predicate. Here both run over a generated corpus with missing fields, lists, numbers,
 * booleans and awkward field names, on every operator and on nested $and/$or, and must agree record for record.
 */

const GENRES = ['drama', 'comedy', 'documentary', 'action', 'Drama', ''];
const N = 400;

function makeCorpus(seed: number): Record<string, unknown>[] {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < N; i++) {
    const m: Record<string, unknown> = {};
    const y = r();
    if (y < 0.6) m.year = 1990 + Math.floor(r() * 35);
    else if (y < 0.7) m.year = String(1990 + Math.floor(r() * 35)); // a string that looks like a number
    else if (y < 0.75) m.year = 2000.5;
    const g = r();
    if (g < 0.4) m.genre = pick(GENRES);
    else if (g < 0.75) m.genre = Array.from({ length: Math.floor(r() * 4) }, () => pick(GENRES)); // may be []
    if (r() < 0.7) m.price = Math.round((r() * 200 - 20) * 100) / 100;
    const d = r();
    if (d < 0.35) m.draft = true;
    else if (d < 0.7) m.draft = false;
    else if (d < 0.75) m.draft = 'true';
    if (r() < 0.5) m.tags = Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(['x', 'y', 'z', '1', 'true']));
    if (r() < 0.3) m['a.b'] = pick(['dot', 'ted']);
    if (r() < 0.3) m['with space'] = pick([1, 2, 3]);
    if (r() < 0.3) m['ünï-cödé'] = pick(['é', 'e']);
    if (r() < 0.2) m.n = pick([0, -0.5, 1e-9, 1e15, -1e15, 42]);
    if (r() < 0.1) m.one = pick([1, true, '1']);
    out.push(m);
  }
  return out;
}

const FIELDS = ['year', 'genre', 'price', 'draft', 'tags', 'a.b', 'with space', 'ünï-cödé', 'n', 'one', 'absent'];
const VALUES: unknown[] = [
  2000, 2010, 2000.5, 1990, 2024, '2005', 'drama', 'Drama', 'comedy', '', 'x', 'y', '1', 'true', true, false, 0, -0.5, 1e15, 1, 2, 'dot', 'é', 100, -20, 42,
];
const NUMBERS = [1989, 1990, 2000, 2000.5, 2010, 2024, 2030, -0.5, 0, 50, 100.25, 1e15, 1, 2];
const SETS: (string | number)[][] = [
  ['drama', 'comedy'],
  ['Drama'],
  [2000, 2001, 2002, 2003],
  ['2005', 2005],
  ['x', 'true', 1],
  [],
  ['', 'é', 'dot', 3],
  [1e15, -0.5, 42],
];

function operatorFilters(): unknown[] {
  const out: unknown[] = [{}];
  for (const f of FIELDS) {
    for (const v of VALUES) {
      out.push({ [f]: v }, { [f]: { $eq: v } }, { [f]: { $ne: v } });
    }
    for (const n of NUMBERS) for (const op of ['$gt', '$gte', '$lt', '$lte']) out.push({ [f]: { [op]: n } });
    for (const s of SETS) out.push({ [f]: { $in: s } }, { [f]: { $nin: s } });
    out.push({ [f]: { $exists: true } }, { [f]: { $exists: false } });
    out.push({ [f]: { $gte: 1995, $lt: 2010 } }, { [f]: { $ne: 'drama', $exists: true } });
  }
  return out;
}

function randomFilter(r: () => number, depth: number): unknown {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  if (depth > 0 && r() < 0.45) {
    const n = 1 + Math.floor(r() * 3);
    return { [pick(['$and', '$or'])]: Array.from({ length: n }, () => randomFilter(r, depth - 1)) };
  }
  const f = pick(FIELDS);
  const kind = Math.floor(r() * 6);
  if (kind === 0) return { [f]: pick(VALUES) };
  if (kind === 1) return { [f]: { [pick(['$eq', '$ne'])]: pick(VALUES) } };
  if (kind === 2) return { [f]: { [pick(['$gt', '$gte', '$lt', '$lte'])]: pick(NUMBERS) } };
  if (kind === 3) return { [f]: { [pick(['$in', '$nin'])]: pick(SETS) } };
  if (kind === 4) return { [f]: { $exists: r() < 0.5 } };
  // Several conditions in one object: implicit AND.
  return { [f]: { $exists: true }, [pick(FIELDS)]: { $ne: pick(VALUES) } };
}

describe('filters: SQL and JS agree', () => {
  let t: ReturnType<typeof tempDir>;
  let s: Store;
  const corpus = makeCorpus(11);
  let stored: Record<string, unknown>[] = [];

  beforeAll(() => {
    t = tempDir();
    s = newStore(t.dir);
    s.createCollection({ name: 'f', model: 'm', dim: 2 });
    s.transaction(() => {
      corpus.forEach((m, i) => s.upsertDocument('f', { id: `d${i}`, metadata: m, chunks: [{ text: `record ${i}`, vector: [i, 1] }] }));
    });
    // The JS path evaluates the metadata as read back from the store (document metadata merged into the chunk's).
    stored = corpus.map((_, i) => s.getChunk('f', `d${i}#0`)!.metadata);
  });
  afterAll(() => {
    s.close();
    t.cleanup();
  });

  function check(input: unknown): number {
    const f = parseFilter(input);
    const sql = s.matchingChunkIds('f', f);
    // Labels equal record indexes here (one chunk per document, inserted in order).
    const js = stored.flatMap((m, i) => (f.matches(m) ? [`d${i}#0`] : []));
    expect(sql, JSON.stringify(input)).toEqual(js);
    const allow = s.allowSet('f', f);
    expect(allow.size, JSON.stringify(input)).toBe(js.length);
    return js.length;
  }

  it('stores metadata exactly as given (lists, booleans, numbers, odd keys)', () => {
    corpus.forEach((m, i) => expect(s.getChunk('f', `d${i}#0`)!.metadata).toEqual(m));
  });

  it('every operator on every field', () => {
    const filters = operatorFilters();
    let nonTrivial = 0;
    for (const f of filters) {
      const n = check(f);
      if (n > 0 && n < N) nonTrivial++;
    }
    expect(filters.length).toBeGreaterThan(700);
    expect(nonTrivial).toBeGreaterThan(300); // the corpus exercises the operators, not just the empty / full answers
  });

  it('nested $and / $or (random trees)', () => {
    const r = rng(5);
    for (let i = 0; i < 300; i++) check(randomFilter(r, 3));
  });

  it('follows Pinecone semantics on lists, types and missing fields', () => {
    const f = (input: unknown) => parseFilter(input);
    const m = { genre: ['comedy', 'documentary'], year: 2020, draft: false, title: '2020' };
    // Lists: $eq / $in match if any element does; $ne / $nin only if none does.
    expect(f({ genre: 'comedy' }).matches(m)).toBe(true);
    expect(f({ genre: { $in: ['documentary', 'action'] } }).matches(m)).toBe(true);
    expect(f({ $and: [{ genre: 'comedy' }, { genre: 'documentary' }] }).matches(m)).toBe(true);
    expect(f({ $and: [{ genre: 'comedy' }, { genre: 'drama' }] }).matches(m)).toBe(false);
    expect(f({ genre: 'drama' }).matches(m)).toBe(false);
    expect(f({ genre: { $nin: ['comedy'] } }).matches(m)).toBe(false);
    expect(f({ genre: { $ne: 'comedy' } }).matches(m)).toBe(false);
    expect(f({ genre: { $ne: 'drama' } }).matches(m)).toBe(true);
    // Types never coerce.
    expect(f({ year: '2020' }).matches(m)).toBe(false);
    expect(f({ title: 2020 }).matches(m)).toBe(false);
    expect(f({ title: { $gt: 2000 } }).matches(m)).toBe(false);
    expect(f({ draft: 0 }).matches(m)).toBe(false);
    expect(f({ draft: false }).matches(m)).toBe(true);
    // Missing fields match only $exists: false (not $ne / $nin).
    expect(f({ absent: { $ne: 'x' } }).matches(m)).toBe(false);
    expect(f({ absent: { $nin: ['x'] } }).matches(m)).toBe(false);
    expect(f({ absent: { $exists: false } }).matches(m)).toBe(true);
    expect(f({}).matches(m)).toBe(true);
    expect(f({ year: { $gte: 2020, $lte: 2020 } }).matches(m)).toBe(true);
  });
});

describe('filters: errors name the operator or field at fault', () => {
  const cases: [unknown, string, RegExp][] = [
    [{ year: { $regex: '^19' } }, 'filter.year', /^unknown operator "\$regex" at filter\.year$/],
    [{ genre: { $in: 'drama' } }, 'filter.genre', /^\$in expects an array, got string "drama" at filter\.genre$/],
    [{ genre: { $nin: [1, true] } }, 'filter.genre', /\$nin expects an array of strings and numbers, element 1 is boolean true/],
    [{ year: { $gt: '2000' } }, 'filter.year', /\$gt expects a finite number, got string "2000"/],
    [{ year: { $lte: null } }, 'filter.year', /\$lte expects a finite number, got null/],
    [{ year: { $eq: [1] } }, 'filter.year', /\$eq expects a string, number or boolean, got an array/],
    [{ year: { $ne: { a: 1 } } }, 'filter.year', /\$ne expects a string, number or boolean, got an object/],
    [{ draft: { $exists: 'yes' } }, 'filter.draft', /\$exists expects true or false/],
    [{ year: null }, 'filter.year', /null is not a filter value/],
    [{ year: [2000, 2001] }, 'filter.year', /use \{"\$in": \[\.\.\.\]\}/],
    [{ year: {} }, 'filter.year', /empty operator object/],
    [{ year: { gt: 5 } }, 'filter.year', /expected an operator such as "\$eq", got key "gt"/],
    [{ $and: { year: 1 } }, 'filter.$and', /\$and expects an array of filters, got an object/],
    [{ $or: [] }, 'filter.$or', /non-empty array/],
    [{ $and: [{ year: 1 }, { $or: [{ genre: 'a' }, { genre: { $foo: 1 } }] }] }, 'filter.$and[1].$or[1].genre', /unknown operator "\$foo"/],
    [{ $and: [{ year: 1 }, 'x'] }, 'filter.$and[1]', /a filter must be a JSON object, got string "x"/],
    [{ $not: { year: 1 } }, 'filter', /unknown operator "\$not"/],
    [{ $gt: 5 }, 'filter', /operator "\$gt" must be nested under a field/],
    [{ 'with space': { $lt: 'a' } }, 'filter["with space"]', /\$lt expects a finite number/],
    [{ 'say "hi"': 1 }, 'filter["say \\"hi\\""]', /must not contain '"'/],
    [{ '': 1 }, 'filter[""]', /must not be empty/],
    [{ year: Infinity }, 'filter.year', /expected a string, number, boolean or an operator object, got Infinity/],
    [[{ year: 1 }], 'filter', /a filter must be a JSON object, got an array/],
    ['{"year": ', 'filter', /not valid JSON/],
  ];
  it.each(cases.map((c, i) => [i, ...c]))('case %i', (_i, input, path, message) => {
    let err: unknown;
    try {
      parseFilter(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FilterError);
    expect((err as FilterError).path).toBe(path);
    expect((err as FilterError).message).toMatch(message as RegExp);
  });

  it('accepts a JSON string and treats undefined, null and {} as match-all', () => {
    expect(parseFilter('{"year": {"$gte": 2000}}').matches({ year: 2001 })).toBe(true);
    for (const f of [undefined, null, {}]) expect(parseFilter(f).matchesAll).toBe(true);
  });
});
