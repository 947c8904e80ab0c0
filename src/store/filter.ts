import { FilterError, StoreError } from './errors.ts';

/**
 * The metadata filter language: Pinecone's (see docs/store.md for the exact semantics).
 *
 *   { "genre": "drama" }                          implicit $eq
 *   { "year": { "$gte": 2000, "$lt": 2010 } }     several operators on one field are ANDed
 *   { "$or": [ { "genre": { "$in": ["a", "b"] } }, { "draft": { "$exists": false } } ] }
 *
 * `parseFilter` validates once and returns a `Filter` that compiles two independent ways:
 * `toSql(column)` (json_type / json_extract / json_each over a metadata JSON column) and `matches(metadata)`
 * (a JS predicate). Both give the same answers; test/store/filter.test.ts checks that on every operator.
 */

export type Scalar = string | number | boolean;
/** A metadata value: a string, a finite number, a boolean, or a list of strings. */
export type MetadataValue = Scalar | string[];
export type Metadata = Record<string, MetadataValue>;

export type ComparisonOp = '$eq' | '$ne' | '$gt' | '$gte' | '$lt' | '$lte';
export type SetOp = '$in' | '$nin';
export const FIELD_OPERATORS = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists'] as const;
export const LOGICAL_OPERATORS = ['$and', '$or'] as const;

export type FilterNode =
  | { kind: 'and'; children: FilterNode[] }
  | { kind: 'or'; children: FilterNode[] }
  | { kind: 'cmp'; field: string; op: ComparisonOp; value: Scalar }
  | { kind: 'set'; field: string; op: SetOp; values: (string | number)[] }
  | { kind: 'exists'; field: string; value: boolean };

export interface SqlFragment {
  sql: string;
  params: (string | number)[];
}

/** A validated filter. Build with `parseFilter`. */
export class Filter {
  private predicate?: (m: Record<string, unknown>) => boolean;
  constructor(
    readonly root: FilterNode,
    /** The JSON the filter was parsed from (what a Pinecone backend passes through). */
    readonly source: unknown,
  ) {}

  /** True for `{}` (and for `$and` of nothing): every record matches. */
  get matchesAll(): boolean {
    return this.root.kind === 'and' && this.root.children.length === 0;
  }

  /** JS evaluation over one metadata object. */
  matches(metadata: Record<string, unknown>): boolean {
    this.predicate ??= compilePredicate(this.root);
    return this.predicate(metadata);
  }

  /** A boolean SQL expression over `column` (an expression holding metadata JSON text, e.g. `c.metadata`). */
  toSql(column: string): SqlFragment {
    return compileSql(this.root, column);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing and validation

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function fieldPath(parent: string, field: string): string {
  return IDENT.test(field) ? `${parent}.${field}` : `${parent}[${JSON.stringify(field)}]`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

const isScalar = (v: unknown): v is Scalar =>
  typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

/** Field names: non-empty, at most 512 characters, not starting with `$`, without `"` (used inside SQLite JSON paths). */
export function fieldNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'a field name must not be empty';
  if (name.length > 512) return 'a field name must be at most 512 characters';
  if (name.startsWith('$')) return `field names must not start with "$" (got ${JSON.stringify(name)})`;
  if (name.includes('"')) return `field names must not contain '"' (got ${JSON.stringify(name)})`;
  return undefined;
}

/**
 * Parses and validates a filter (a JSON value or a JSON string). `undefined`, `null` and `{}` mean "everything".
 * Throws `FilterError` naming the operator or field at fault.
 */
export function parseFilter(input: unknown): Filter {
  if (input instanceof Filter) return input;
  if (input === undefined || input === null) return new Filter({ kind: 'and', children: [] }, {});
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw new FilterError('filter', `not valid JSON (${(err as Error).message})`);
    }
  }
  return new Filter(parseNode(value, 'filter'), value);
}

function parseNode(input: unknown, path: string): FilterNode {
  if (!isPlainObject(input)) throw new FilterError(path, `a filter must be a JSON object, got ${describe(input)}`);
  const children: FilterNode[] = [];
  for (const [key, val] of Object.entries(input)) {
    if (key === '$and' || key === '$or') {
      const p = `${path}.${key}`;
      if (!Array.isArray(val)) throw new FilterError(p, `${key} expects an array of filters, got ${describe(val)}`);
      if (val.length === 0) throw new FilterError(p, `${key} expects a non-empty array of filters`);
      const kids = val.map((v, i) => parseNode(v, `${p}[${i}]`));
      children.push({ kind: key === '$and' ? 'and' : 'or', children: kids });
    } else if (key.startsWith('$')) {
      if ((FIELD_OPERATORS as readonly string[]).includes(key)) {
        throw new FilterError(path, `operator "${key}" must be nested under a field, e.g. {"year": {"${key}": ...}}`);
      }
      throw new FilterError(path, `unknown operator "${key}" (expected a field name, "$and" or "$or")`);
    } else {
      const p = fieldPath(path, key);
      const problem = fieldNameProblem(key);
      if (problem) throw new FilterError(p, problem);
      parseField(key, val, p, children);
    }
  }
  return children.length === 1 ? children[0] : { kind: 'and', children };
}

function parseField(field: string, val: unknown, path: string, out: FilterNode[]): void {
  if (isScalar(val)) {
    out.push({ kind: 'cmp', field, op: '$eq', value: val });
    return;
  }
  if (val === null) throw new FilterError(path, 'null is not a filter value (metadata never holds null; use {"$exists": false})');
  if (Array.isArray(val)) throw new FilterError(path, 'an array is not a filter value; use {"$in": [...]}');
  if (!isPlainObject(val)) throw new FilterError(path, `expected a string, number, boolean or an operator object, got ${describe(val)}`);
  const ops = Object.entries(val);
  if (ops.length === 0) throw new FilterError(path, 'empty operator object; expected e.g. {"$eq": value}');
  for (const [op, arg] of ops) {
    switch (op) {
      case '$eq':
      case '$ne':
        if (!isScalar(arg)) throw new FilterError(path, `${op} expects a string, number or boolean, got ${describe(arg)}`);
        out.push({ kind: 'cmp', field, op, value: arg });
        break;
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte':
        if (typeof arg !== 'number' || !Number.isFinite(arg)) throw new FilterError(path, `${op} expects a finite number, got ${describe(arg)}`);
        out.push({ kind: 'cmp', field, op, value: arg });
        break;
      case '$in':
      case '$nin': {
        if (!Array.isArray(arg)) throw new FilterError(path, `${op} expects an array, got ${describe(arg)}`);
        arg.forEach((v, i) => {
          if (typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) {
            throw new FilterError(path, `${op} expects an array of strings and numbers, element ${i} is ${describe(v)}`);
          }
        });
        out.push({ kind: 'set', field, op, values: [...(arg as (string | number)[])] });
        break;
      }
      case '$exists':
        if (typeof arg !== 'boolean') throw new FilterError(path, `$exists expects true or false, got ${describe(arg)}`);
        out.push({ kind: 'exists', field, value: arg });
        break;
      default:
        if (op.startsWith('$')) throw new FilterError(path, `unknown operator "${op}"`);
        throw new FilterError(path, `expected an operator such as "$eq", got key "${op}" (nested fields are not supported)`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Metadata validation (on write)

/**
 * Checks and normalises metadata before it is stored: keys follow `fieldNameProblem`; values are strings, finite
 * numbers, booleans or lists of strings; `null` / `undefined` values are dropped (absent and null are the same thing).
 */
export function normalizeMetadata(meta: unknown, where: string): Metadata {
  if (meta === undefined || meta === null) return {};
  if (!isPlainObject(meta)) throw new StoreError('INVALID_ARGUMENT', `${where}: metadata must be a JSON object, got ${describe(meta)}`);
  const out: Metadata = {};
  for (const [k, v] of Object.entries(meta)) {
    const problem = fieldNameProblem(k);
    if (problem) throw new StoreError('INVALID_ARGUMENT', `${where}: metadata key ${JSON.stringify(k)}: ${problem}`);
    if (v === undefined || v === null) continue;
    if (isScalar(v)) out[k] = v;
    else if (Array.isArray(v) && v.every((e) => typeof e === 'string')) out[k] = [...(v as string[])];
    else {
      throw new StoreError(
        'INVALID_ARGUMENT',
        `${where}: metadata ${JSON.stringify(k)} must be a string, finite number, boolean or list of strings, got ${describe(v)}`,
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// JS predicate

type Pred = (m: Record<string, unknown>) => boolean;

const present = (v: unknown): boolean => v !== undefined && v !== null;

function get(m: Record<string, unknown>, field: string): unknown {
  return Object.prototype.hasOwnProperty.call(m, field) ? m[field] : undefined;
}

/** Typed scalar test: values of different JSON types never compare (2020 is not "2020", true is not 1). */
function scalarTest(op: ComparisonOp | '$in', value: Scalar | undefined, set: Set<string | number> | undefined): (x: unknown) => boolean {
  switch (op) {
    case '$eq':
    case '$ne':
      return (x) => typeof x === typeof value && x === value;
    case '$gt':
      return (x) => typeof x === 'number' && x > (value as number);
    case '$gte':
      return (x) => typeof x === 'number' && x >= (value as number);
    case '$lt':
      return (x) => typeof x === 'number' && x < (value as number);
    case '$lte':
      return (x) => typeof x === 'number' && x <= (value as number);
    case '$in':
      return (x) => (typeof x === 'string' || typeof x === 'number') && set!.has(x);
  }
}

/** A field matches when its value (or, for a list, any element) passes the test. */
const anyOf = (test: (x: unknown) => boolean) => (v: unknown) => (Array.isArray(v) ? v.some(test) : test(v));

function compilePredicate(node: FilterNode): Pred {
  switch (node.kind) {
    case 'and': {
      const kids = node.children.map(compilePredicate);
      return (m) => kids.every((k) => k(m));
    }
    case 'or': {
      const kids = node.children.map(compilePredicate);
      return (m) => kids.some((k) => k(m));
    }
    case 'exists': {
      const { field, value } = node;
      return (m) => present(get(m, field)) === value;
    }
    case 'cmp': {
      const { field, op } = node;
      const any = anyOf(scalarTest(op, node.value, undefined));
      if (op === '$ne') return (m) => present(get(m, field)) && !any(get(m, field));
      return (m) => present(get(m, field)) && any(get(m, field));
    }
    case 'set': {
      const { field, op } = node;
      const any = anyOf(scalarTest('$in', undefined, new Set(node.values)));
      if (op === '$nin') return (m) => present(get(m, field)) && !any(get(m, field));
      return (m) => present(get(m, field)) && any(get(m, field));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// SQL

type Part = SqlFragment | { param: string | number };

/** Tagged template joining SQL text and fragments; parameters stay in textual order. */
function q(strings: TemplateStringsArray, ...parts: Part[]): SqlFragment {
  let sql = strings[0];
  const params: (string | number)[] = [];
  parts.forEach((p, i) => {
    if ('param' in p) {
      sql += '?';
      params.push(p.param);
    } else {
      sql += p.sql;
      params.push(...p.params);
    }
    sql += strings[i + 1];
  });
  return { sql, params };
}

const raw = (sql: string): SqlFragment => ({ sql, params: [] });
const param = (v: string | number): Part => ({ param: v });
const NUM_TYPES = raw(`('integer','real')`);

function join(frags: SqlFragment[], sep: string): SqlFragment {
  return { sql: frags.map((f) => f.sql).join(sep), params: frags.flatMap((f) => f.params) };
}

/** A JSON path selecting a top-level key, whatever characters it holds (except `"`, refused at parse time). */
function jsonPath(field: string): string {
  return `$."${field}"`;
}

/** SQL test of one JSON value: `t` is its json type name ('text', 'integer', 'real', 'true', ...), `v` its SQL value. */
function scalarSql(op: ComparisonOp | '$in', t: SqlFragment, v: SqlFragment, value: Scalar | undefined, values: (string | number)[]): SqlFragment {
  switch (op) {
    case '$eq':
    case '$ne':
      if (typeof value === 'boolean') return q`(${t} = ${raw(value ? `'true'` : `'false'`)})`;
      if (typeof value === 'number') return q`(${t} IN ${NUM_TYPES} AND ${v} = ${param(value)})`;
      return q`(${t} = 'text' AND ${v} = ${param(value as string)})`;
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte': {
      const sym = raw({ $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' }[op]);
      return q`(${t} IN ${NUM_TYPES} AND ${v} ${sym} ${param(value as number)})`;
    }
    case '$in': {
      const strs = values.filter((x): x is string => typeof x === 'string');
      const nums = values.filter((x): x is number => typeof x === 'number');
      const list = (xs: (string | number)[]) => join(xs.map((x) => q`${param(x)}`), ',');
      const parts: SqlFragment[] = [];
      if (strs.length) parts.push(q`(${t} = 'text' AND ${v} IN (${list(strs)}))`);
      if (nums.length) parts.push(q`(${t} IN ${NUM_TYPES} AND ${v} IN (${list(nums)}))`);
      return parts.length ? q`(${join(parts, ' OR ')})` : raw('0');
    }
  }
}

/** `field` holds a value that passes the test, or a list with an element that does. Always 0 or 1, never NULL. */
function anySql(col: SqlFragment, field: string, test: (t: SqlFragment, v: SqlFragment) => SqlFragment): SqlFragment {
  const path = param(jsonPath(field));
  const inner = test(raw('e.type'), raw('e.value'));
  const outer = test(q`json_type(${col}, ${path})`, q`json_extract(${col}, ${path})`);
  return q`IFNULL((CASE json_type(${col}, ${path}) WHEN 'array' THEN EXISTS (SELECT 1 FROM json_each(${col}, ${path}) e WHERE ${inner}) WHEN 'null' THEN 0 ELSE ${outer} END), 0)`;
}

function existsSql(col: SqlFragment, field: string): SqlFragment {
  return q`(IFNULL(json_type(${col}, ${param(jsonPath(field))}), 'null') <> 'null')`;
}

function compileSql(node: FilterNode, column: string): SqlFragment {
  const col = raw(column);
  switch (node.kind) {
    case 'and':
    case 'or': {
      if (node.children.length === 0) return raw(node.kind === 'and' ? '1' : '0');
      return q`(${join(
        node.children.map((c) => compileSql(c, column)),
        node.kind === 'and' ? ' AND ' : ' OR ',
      )})`;
    }
    case 'exists': {
      const e = existsSql(col, node.field);
      return node.value ? e : q`(NOT ${e})`;
    }
    case 'cmp':
    case 'set': {
      const any =
        node.kind === 'cmp'
          ? anySql(col, node.field, (t, v) => scalarSql(node.op, t, v, node.value, []))
          : anySql(col, node.field, (t, v) => scalarSql('$in', t, v, undefined, node.values));
      if (node.op === '$ne' || node.op === '$nin') return q`(${existsSql(col, node.field)} AND NOT ${any})`;
      return any;
    }
  }
}
