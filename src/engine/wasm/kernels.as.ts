// Distance kernels in AssemblyScript, compiled to WebAssembly with SIMD (f32x4) by scripts/build-wasm.mjs.
// They work on raw addresses in the memory the TypeScript side owns (imported as env.memory), so vectors
// are never copied across the JS/WASM boundary. The batch forms exist because one call per candidate
// costs more in call overhead than a 128-d distance costs in arithmetic: HNSW scores a node's whole
// neighbour list at once.

// Squared L2 distance between two dim-length float32 vectors at addresses a and b.
@inline
function l2At(a: usize, b: usize, dim: i32): f32 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let acc2 = f32x4.splat(0);
  let acc3 = f32x4.splat(0);
  const end16 = dim & ~15;
  let i: i32 = 0;
  for (; i < end16; i += 16) {
    const off = <usize>(i << 2);
    const d0 = f32x4.sub(v128.load(a + off), v128.load(b + off));
    const d1 = f32x4.sub(v128.load(a + off, 16), v128.load(b + off, 16));
    const d2 = f32x4.sub(v128.load(a + off, 32), v128.load(b + off, 32));
    const d3 = f32x4.sub(v128.load(a + off, 48), v128.load(b + off, 48));
    acc0 = f32x4.add(acc0, f32x4.mul(d0, d0));
    acc1 = f32x4.add(acc1, f32x4.mul(d1, d1));
    acc2 = f32x4.add(acc2, f32x4.mul(d2, d2));
    acc3 = f32x4.add(acc3, f32x4.mul(d3, d3));
  }
  const end4 = dim & ~3;
  for (; i < end4; i += 4) {
    const off = <usize>(i << 2);
    const d = f32x4.sub(v128.load(a + off), v128.load(b + off));
    acc0 = f32x4.add(acc0, f32x4.mul(d, d));
  }
  const acc = f32x4.add(f32x4.add(acc0, acc1), f32x4.add(acc2, acc3));
  let sum: f32 =
    f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; i < dim; i++) {
    const off = <usize>(i << 2);
    const d: f32 = load<f32>(a + off) - load<f32>(b + off);
    sum += d * d;
  }
  return sum;
}

// Dot product of two dim-length float32 vectors at addresses a and b.
@inline
function dotAt(a: usize, b: usize, dim: i32): f32 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let acc2 = f32x4.splat(0);
  let acc3 = f32x4.splat(0);
  const end16 = dim & ~15;
  let i: i32 = 0;
  for (; i < end16; i += 16) {
    const off = <usize>(i << 2);
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + off), v128.load(b + off)));
    acc1 = f32x4.add(acc1, f32x4.mul(v128.load(a + off, 16), v128.load(b + off, 16)));
    acc2 = f32x4.add(acc2, f32x4.mul(v128.load(a + off, 32), v128.load(b + off, 32)));
    acc3 = f32x4.add(acc3, f32x4.mul(v128.load(a + off, 48), v128.load(b + off, 48)));
  }
  const end4 = dim & ~3;
  for (; i < end4; i += 4) {
    const off = <usize>(i << 2);
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + off), v128.load(b + off)));
  }
  const acc = f32x4.add(f32x4.add(acc0, acc1), f32x4.add(acc2, acc3));
  let sum: f32 =
    f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; i < dim; i++) {
    const off = <usize>(i << 2);
    sum += load<f32>(a + off) * load<f32>(b + off);
  }
  return sum;
}

export function l2(a: usize, b: usize, dim: i32): f32 {
  return l2At(a, b, dim);
}

export function dot(a: usize, b: usize, dim: i32): f32 {
  return dotAt(a, b, dim);
}

// out[j] = squaredL2(query, base[ids[j]]) for j < count; rows of base are dim float32s.
export function l2Batch(query: usize, base: usize, dim: i32, ids: usize, count: i32, out: usize): void {
  const rowBytes = <usize>(dim << 2);
  for (let j: i32 = 0; j < count; j++) {
    const id = <usize>load<u32>(ids + (<usize>j << 2));
    store<f32>(out + (<usize>j << 2), l2At(query, base + id * rowBytes, dim));
  }
}

// out[j] = 1 - dot(query, base[ids[j]]): the inner-product distance (and cosine distance on unit vectors).
export function ipBatch(query: usize, base: usize, dim: i32, ids: usize, count: i32, out: usize): void {
  const rowBytes = <usize>(dim << 2);
  for (let j: i32 = 0; j < count; j++) {
    const id = <usize>load<u32>(ids + (<usize>j << 2));
    store<f32>(out + (<usize>j << 2), <f32>1.0 - dotAt(query, base + id * rowBytes, dim));
  }
}
