/**
 * A tiny ONNX writer for bench-time random-weight models. Python has no `onnx` package here, so the ModelProto is
 * encoded with protobufjs (already in node_modules as a dependency of onnxruntime) from the subset of onnx.proto
 * below (field numbers as in onnx/onnx.proto3). Only the benchmark uses it; nothing is committed.
 */
import protobuf from 'protobufjs';
import { mulberry32 } from '../../src/engine/rng.ts';

const ONNX_SUBSET = `
syntax = "proto2";
package onnx;
message OperatorSetIdProto { optional string domain = 1; optional int64 version = 2; }
message TensorProto { repeated int64 dims = 1; optional int32 data_type = 2; optional string name = 8; optional bytes raw_data = 9; }
message AttributeProto {
  optional string name = 1; optional float f = 2; optional int64 i = 3; optional bytes s = 4; optional TensorProto t = 5;
  repeated float floats = 7; repeated int64 ints = 8; optional int32 type = 20;
}
message NodeProto { repeated string input = 1; repeated string output = 2; optional string name = 3; optional string op_type = 4; repeated AttributeProto attribute = 5; }
message TensorShapeProto { message Dimension { optional int64 dim_value = 1; optional string dim_param = 2; } repeated Dimension dim = 1; }
message TypeProto { message Tensor { optional int32 elem_type = 1; optional TensorShapeProto shape = 2; } optional Tensor tensor_type = 1; }
message ValueInfoProto { optional string name = 1; optional TypeProto type = 2; }
message GraphProto { repeated NodeProto node = 1; optional string name = 2; repeated TensorProto initializer = 5; repeated ValueInfoProto input = 11; repeated ValueInfoProto output = 12; }
message ModelProto { optional int64 ir_version = 1; optional string producer_name = 2; optional GraphProto graph = 7; repeated OperatorSetIdProto opset_import = 8; }
`;

export const FLOAT = 1;
export const INT64 = 7;

type Attr = number | number[] | { floats: number[] } | { tensor: { dims: number[]; type: number; raw: Uint8Array } };

/** Deterministic PRNG: the engine's mulberry32, so every seeded sequence in the project is the same generator. */
export const rng = mulberry32;

export class GraphBuilder {
  private readonly nodes: object[] = [];
  private readonly inits: object[] = [];
  private readonly inputs: object[] = [];
  private readonly outputs: object[] = [];
  private n = 0;
  private readonly rand: () => number;

  constructor(seed = 42) {
    this.rand = rng(seed);
  }

  input(name: string, type: number, dims: (number | string)[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: number, dims: (number | string)[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** A float initializer with uniform(-scale, scale) values, or a constant fill. */
  weight(dims: number[], scale: number, fill?: number): string {
    const count = dims.reduce((a, b) => a * b, 1);
    const f = new Float32Array(count);
    if (fill !== undefined) f.fill(fill);
    else for (let i = 0; i < count; i++) f[i] = (this.rand() * 2 - 1) * scale;
    return this.init(dims, FLOAT, new Uint8Array(f.buffer));
  }

  ints(values: number[]): string {
    return this.init([values.length], INT64, new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer));
  }

  /** A scalar int64 (Range bounds; a scalar Gather index drops the axis). */
  int64Scalar(v: number): string {
    return this.init([], INT64, new Uint8Array(BigInt64Array.of(BigInt(v)).buffer));
  }

  scalar(v: number): string {
    return this.init([], FLOAT, new Uint8Array(Float32Array.of(v).buffer));
  }

  private init(dims: number[], type: number, raw: Uint8Array): string {
    const name = `w${this.inits.length}`;
    this.inits.push({ name, dims, dataType: type, rawData: raw });
    return name;
  }

  /** Add a node; returns its (first) output name. */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, outName?: string): string {
    const out = outName ?? `t${this.n++}`;
    const attribute = Object.entries(attrs).map(([name, v]) => {
      if (typeof v === 'number') return Number.isInteger(v) && !(name === 'alpha' || name === 'epsilon' || name === 'value_float') ? { name, i: v, type: 2 } : { name, f: v, type: 1 };
      if (Array.isArray(v)) return { name, ints: v, type: 7 };
      if ('floats' in v) return { name, floats: v.floats, type: 6 };
      return { name, t: { dims: v.tensor.dims, dataType: v.tensor.type, rawData: v.tensor.raw }, type: 4 };
    });
    this.nodes.push({ input: inputs, output: [out], opType, name: `n${this.nodes.length}`, attribute });
    return out;
  }

  async encode(opset = 17): Promise<Uint8Array> {
    const root = protobuf.parse(ONNX_SUBSET, { keepCase: false }).root;
    const Model = root.lookupType('onnx.ModelProto');
    const msg = Model.fromObject({
      irVersion: 8,
      producerName: 'trellis-bench',
      opsetImport: [{ domain: '', version: opset }],
      graph: { name: 'g', node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    });
    return Model.encode(msg).finish();
  }

  // ---- building blocks shared by the BERT and ViT graphs ----

  linear(x: string, inDim: number, outDim: number, bias = true): string {
    const y = this.op('MatMul', [x, this.weight([inDim, outDim], Math.sqrt(3 / inDim))]);
    return bias ? this.op('Add', [y, this.weight([outDim], 0.02)]) : y;
  }

  layerNorm(x: string, dim: number, eps: number): string {
    return this.op('LayerNormalization', [x, this.weight([dim], 0, 1), this.weight([dim], 0, 0)], { axis: -1, epsilon: eps });
  }

  /** Multi-head self-attention on [b, s, h]; `mask` is an additive [b, 1, 1, s] tensor or null. */
  attention(x: string, hidden: number, heads: number, mask: string | null): string {
    const hd = hidden / heads;
    const split = (t: string, perm: number[]) => this.op('Transpose', [this.op('Reshape', [t, this.ints([0, 0, heads, hd])])], { perm });
    const q = split(this.linear(x, hidden, hidden), [0, 2, 1, 3]);
    const k = split(this.linear(x, hidden, hidden), [0, 2, 3, 1]);
    const v = split(this.linear(x, hidden, hidden), [0, 2, 1, 3]);
    let s = this.op('Mul', [this.op('MatMul', [q, k]), this.scalar(1 / Math.sqrt(hd))]);
    if (mask) s = this.op('Add', [s, mask]);
    const p = this.op('Softmax', [s], { axis: -1 });
    const ctx = this.op('Reshape', [this.op('Transpose', [this.op('MatMul', [p, v])], { perm: [0, 2, 1, 3] }), this.ints([0, 0, hidden])]);
    return this.linear(ctx, hidden, hidden);
  }

  geluErf(x: string): string {
    const e = this.op('Erf', [this.op('Div', [x, this.scalar(Math.SQRT2)])]);
    return this.op('Mul', [this.op('Mul', [x, this.op('Add', [e, this.scalar(1)])]), this.scalar(0.5)]);
  }

  quickGelu(x: string): string {
    return this.op('Mul', [x, this.op('Sigmoid', [this.op('Mul', [x, this.scalar(1.702)])])]);
  }
}

function valueInfo(name: string, type: number, dims: (number | string)[]) {
  return {
    name,
    type: { tensorType: { elemType: type, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** BERT encoder like all-MiniLM-L6-v2's Optimum export: 3 int64 inputs -> last_hidden_state. Post-LN, erf GELU. */
export async function buildBert(o: { vocab: number; hidden: number; layers: number; heads: number; intermediate: number; maxPos: number }): Promise<Uint8Array> {
  const g = new GraphBuilder(1234);
  const ids = g.input('input_ids', INT64, ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', INT64, ['batch_size', 'sequence_length']);
  const types = g.input('token_type_ids', INT64, ['batch_size', 'sequence_length']);
  const word = g.op('Gather', [g.weight([o.vocab, o.hidden], 1), ids]);
  const seqLen = g.op('Gather', [g.op('Shape', [ids]), g.ints([1])], { axis: 0 });
  const zero = g.int64Scalar(0);
  const one = g.int64Scalar(1);
  const posIds = g.op('Range', [zero, g.op('Squeeze', [seqLen]), one]);
  const pos = g.op('Gather', [g.weight([o.maxPos, o.hidden], 1), posIds]);
  const typ = g.op('Gather', [g.weight([2, o.hidden], 1), types]);
  let x = g.layerNorm(g.op('Add', [g.op('Add', [word, pos]), typ]), o.hidden, 1e-12);
  // Additive mask (1 - m) * float32.min, broadcast to [b, 1, 1, s], as in Hugging Face BERT.
  const m = g.op('Unsqueeze', [g.op('Cast', [mask], { to: FLOAT }), g.ints([1, 2])]);
  const add = g.op('Mul', [g.op('Sub', [g.scalar(1), m]), g.scalar(-3.4028234663852886e38)]);
  for (let l = 0; l < o.layers; l++) {
    x = g.layerNorm(g.op('Add', [x, g.attention(x, o.hidden, o.heads, add)]), o.hidden, 1e-12);
    const ff = g.linear(g.geluErf(g.linear(x, o.hidden, o.intermediate)), o.intermediate, o.hidden);
    x = g.layerNorm(g.op('Add', [x, ff]), o.hidden, 1e-12);
  }
  g.op('Identity', [x], {}, 'last_hidden_state');
  g.output('last_hidden_state', FLOAT, ['batch_size', 'sequence_length', o.hidden]);
  return g.encode();
}

/** CLIP ViT vision tower with projection: pixel_values [b,3,224,224] -> image_embeds (+ last_hidden_state). */
export async function buildVit(o: { image: number; patch: number; hidden: number; layers: number; heads: number; intermediate: number; proj: number }): Promise<Uint8Array> {
  const g = new GraphBuilder(5678);
  const px = g.input('pixel_values', FLOAT, ['batch_size', 3, o.image, o.image]);
  const grid = o.image / o.patch;
  const patches = g.op('Conv', [px, g.weight([o.hidden, 3, o.patch, o.patch], Math.sqrt(3 / (3 * o.patch * o.patch)))], {
    kernel_shape: [o.patch, o.patch],
    strides: [o.patch, o.patch],
  });
  const seq = g.op('Transpose', [g.op('Reshape', [patches, g.ints([0, o.hidden, grid * grid])])], { perm: [0, 2, 1] });
  const batch = g.op('Slice', [g.op('Shape', [px]), g.ints([0]), g.ints([1])]);
  const clsShape = g.op('Concat', [batch, g.ints([1, o.hidden])], { axis: 0 });
  const cls = g.op('Expand', [g.weight([1, 1, o.hidden], 1), clsShape]);
  let x = g.op('Add', [g.op('Concat', [cls, seq], { axis: 1 }), g.weight([1, grid * grid + 1, o.hidden], 1)]);
  x = g.layerNorm(x, o.hidden, 1e-5); // pre_layrnorm
  for (let l = 0; l < o.layers; l++) {
    x = g.op('Add', [x, g.attention(g.layerNorm(x, o.hidden, 1e-5), o.hidden, o.heads, null)]);
    const h = g.layerNorm(x, o.hidden, 1e-5);
    x = g.op('Add', [x, g.linear(g.quickGelu(g.linear(h, o.hidden, o.intermediate)), o.intermediate, o.hidden)]);
  }
  g.op('Identity', [x], {}, 'last_hidden_state');
  const pooled = g.layerNorm(g.op('Gather', [x, g.int64Scalar(0)], { axis: 1 }), o.hidden, 1e-5);
  g.op('MatMul', [pooled, g.weight([o.hidden, o.proj], Math.sqrt(3 / o.hidden))], {}, 'image_embeds');
  g.output('image_embeds', FLOAT, ['batch_size', o.proj]);
  g.output('last_hidden_state', FLOAT, ['batch_size', grid * grid + 1, o.hidden]);
  return g.encode();
}

/**
 * Placeholder CLIP text tower (only so the folder has the CLIP layout; the benchmark times images, not CLIP text):
 * token embedding -> mean over the sequence -> projection to text_embeds.
 */
export async function buildClipTextStub(o: { vocab: number; width: number; proj: number }): Promise<Uint8Array> {
  const g = new GraphBuilder(99);
  const ids = g.input('input_ids', INT64, ['batch_size', 'sequence_length']);
  const emb = g.op('Gather', [g.weight([o.vocab, o.width], 1), ids]);
  const mean = g.op('ReduceMean', [emb], { axes: [1], keepdims: 0 });
  g.op('MatMul', [mean, g.weight([o.width, o.proj], Math.sqrt(3 / o.width))], {}, 'text_embeds');
  g.output('text_embeds', FLOAT, ['batch_size', o.proj]);
  return g.encode();
}
