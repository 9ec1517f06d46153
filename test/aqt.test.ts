// AffineQuantizedTensor, its layouts and the quantized-linear dispatch table, on every device
// present. For each config, getPlain() gives back exactly what chooseQParamsAffine/quantizeAffine
// give on the same weight (with torchao's parameters restated here), dequantize() equals
// dequantizeAffine bit for bit, the tiled layout's plain form equals the plain layout's, and linear
// with a quantized weight gives what its dispatch entry documents (quantizedLinearMisses): a fallback
// dense linear with that reference weight bit for bit, a fused kernel the float64 product with its
// weight within the kernels' tolerance.
import { describe, expect, test } from "bun:test";
import {
  AffineQuantizedTensor, chooseQParamsAffine, dequantizeAffine, disposePlain, finfo, int4WeightOnly, int8WeightOnly, linear, MappingType,
  PlainLayout, perGroup, perRow, quantizedLinearImpl, quantizedLinearTable, QuantizedLinearPriority, randn,
  registerQuantizedLinear, quantizeAffine, TaoError, TensorCoreTiledLayout, zeros, ZeroPointDomain, type DType,
  type Layout, type PlainForm, type QuantConfig, type QuantScheme, type Tensor,
} from "../lib/index.ts";
import { quantTarget } from "../lib/dtypes/affine_quantized_tensor.ts";
import { bits, devices, freshSeed, hasCuda, mismatches, noCudaReason, quantizedLinearMisses } from "./helpers.ts";

if (!hasCuda) console.log(`aqt.test.ts: cuda:0 cases skipped: ${noCudaReason}`);

const sameBits = (a: Tensor, b: Tensor) => {
  expect([a.dtype, a.shape]).toEqual([b.dtype, b.shape]);
  expect(mismatches(bits(a), bits(b))).toEqual([]);
};

// torchao's parameters of each config, restated independently of lib/quantization/quant_api.ts.
const INT8: (shape: readonly number[]) => QuantScheme = (shape) => ({
  mappingType: MappingType.SYMMETRIC, blockSize: perRow(shape), targetDtype: "int8", zeroPointDomain: ZeroPointDomain.INT,
  eps: finfo("f32").eps,
});
const INT4_FLOAT = (g: number) => (shape: readonly number[]): QuantScheme => ({
  mappingType: MappingType.ASYMMETRIC, blockSize: perGroup(shape, g), targetDtype: "uint4", zeroPointDomain: ZeroPointDomain.FLOAT,
  preserveZero: false, scaleDtype: "bf16", zeroPointDtype: "bf16", eps: 1e-6,
});
const INT4_INT = (g: number) => (shape: readonly number[]): QuantScheme => ({
  mappingType: MappingType.ASYMMETRIC, blockSize: perGroup(shape, g), targetDtype: "uint4", zeroPointDomain: ZeroPointDomain.INT,
  preserveZero: true, scaleDtype: "bf16", zeroPointDtype: "i32", eps: 1e-6,
});

interface Case {
  name: string;
  config: () => QuantConfig;
  scheme: (shape: readonly number[]) => QuantScheme;
  /** [N, K, weight dtype, the layout the config picks]. */
  weights: [number, number, DType, string][];
}

const CASES: Case[] = [
  { name: "int8WeightOnly", config: int8WeightOnly, scheme: INT8, weights: [[5, 96, "bf16", "plain"], [24, 100, "f32", "plain"], [16, 384, "f16", "plain"]] },
  {
    name: "int4WeightOnly g128 tensor_core_tiled", config: () => int4WeightOnly(), scheme: INT4_FLOAT(128),
    // [12, 256]: N % 8 != 0, so the config stores it in the plain layout.
    weights: [[8, 256, "bf16", "tensor_core_tiled"], [24, 384, "bf16", "tensor_core_tiled"], [40, 128, "f32", "tensor_core_tiled"], [12, 256, "bf16", "plain"]],
  },
  {
    name: "int4WeightOnly g32 tensor_core_tiled", config: () => int4WeightOnly({ groupSize: 32 }), scheme: INT4_FLOAT(32),
    // [16, 96]: K % (8·16) != 0, so plain.
    weights: [[16, 128, "bf16", "tensor_core_tiled"], [16, 96, "bf16", "plain"]],
  },
  {
    name: "int4WeightOnly g32 plain", config: () => int4WeightOnly({ groupSize: 32, layout: "plain" }), scheme: INT4_FLOAT(32),
    weights: [[5, 96, "bf16", "plain"], [8, 256, "f32", "plain"]],
  },
  {
    name: "int4WeightOnly g64 INT plain", config: () => int4WeightOnly({ groupSize: 64, layout: "plain", zeroPointDomain: ZeroPointDomain.INT }),
    scheme: INT4_INT(64), weights: [[7, 192, "bf16", "plain"], [16, 256, "f32", "plain"]],
  },
];

/** The primitives' plain form of `w` under `scheme`. */
function reference(w: Tensor, scheme: QuantScheme): PlainForm {
  const { scale, zeroPoint } = chooseQParamsAffine(w, scheme.mappingType, scheme.blockSize, scheme.targetDtype, scheme);
  return { data: quantizeAffine(w, scheme.blockSize, scale, zeroPoint, scheme.targetDtype, scheme), scale, zeroPoint };
}

/**
 * The weight a layout's values stand for, as `dtype`: dequantizeAffine of the reference; the
 * tensor-core-tiled layout's values are tinygemm's bf16 dequantization, cast to `dtype`.
 */
function dense(ref: PlainForm, aqt: AffineQuantizedTensor, dtype: DType): Tensor {
  const { blockSize, zeroPointDomain } = aqt.params;
  const outputDtype = aqt.layout.name === "tensor_core_tiled" ? "bf16" : dtype;
  const w = dequantizeAffine(ref.data, blockSize, ref.scale, ref.zeroPoint, quantTarget(aqt.params, "dense"), { zeroPointDomain, outputDtype });
  if (w.dtype === dtype) return w;
  using bf16 = w;
  return bf16.cast(dtype);
}

describe("AffineQuantizedTensor from each config", () => {
  for (const device of devices) {
    for (const c of CASES) {
      const seed = freshSeed();
      test(`${c.name}: getPlain, dequantize, linear (${device}, seed ${seed})`, () => {
        const config = c.config();
        for (const [i, [n, k, dtype, layout]] of c.weights.entries()) {
          using w = randn([n, k], { dtype, device, seed: seed + i });
          using aqt = config.quantizeWeight(w);
          expect([aqt.layout.name, aqt.shape, aqt.dtype, aqt.device, aqt.config]).toEqual([layout, [n, k], dtype, device, config.record]);
          const ref = reference(w, c.scheme(w.shape));
          const plain = aqt.getPlain();
          try {
            sameBits(plain.data, ref.data);
            sameBits(plain.scale, ref.scale);
            sameBits(plain.zeroPoint!, ref.zeroPoint!);
            using deq = aqt.dequantize();
            using want = dense(ref, aqt, dtype);
            sameBits(deq, want);
            for (const m of [1, 3, 16, 77, 256]) {
              for (const xDtype of ["f32", "f16", "bf16"] as DType[]) {
                using x = randn([m, k], { dtype: xDtype, device, seed: seed + m });
                using bias = randn([n], { dtype: xDtype, device, seed: seed - m });
                using y = linear(x, aqt, m % 2 ? bias : null);
                using wx = dense(ref, aqt, xDtype);
                expect(quantizedLinearMisses(x, aqt, m % 2 ? bias : null, y, wx)).toEqual([]);
              }
            }
          } finally {
            disposePlain(ref);
            disposePlain(plain);
          }
        }
      });
    }

    test(`tensor_core_tiled's plain form is the plain layout's, for every innerKTiles (${device})`, () => {
      using w = randn([24, 256], { dtype: "bf16", device, seed: 5 });
      const scheme = INT4_FLOAT(64)(w.shape);
      using plainAqt = AffineQuantizedTensor.fromFloat(w, scheme, new PlainLayout());
      const a = plainAqt.getPlain();
      for (const tiles of [2, 4, 8] as const) {
        using tiled = AffineQuantizedTensor.fromFloat(w, scheme, new TensorCoreTiledLayout(tiles));
        expect(Object.keys(tiled.storage).sort()).toEqual(["packed_weight", "scale_and_zero"]);
        expect(tiled.storage.packed_weight!.shape).toEqual([3, 256 / (tiles * 16), 32, tiles / 2]);
        const b = tiled.getPlain();
        sameBits(b.data, a.data);
        sameBits(b.scale, a.scale);
        sameBits(b.zeroPoint!, a.zeroPoint!);
        disposePlain(b);
        using d1 = tiled.dequantize(), d2 = plainAqt.dequantize();
        sameBits(d1, d2);
      }
      disposePlain(a);
    });

    test(`shapes the tiled layout cannot hold are TaoErrors naming the reason (${device})`, () => {
      const tiled = new TensorCoreTiledLayout(8);
      const cases: [number, number, number, RegExp][] = [
        [12, 256, 128, /N = 12 is not a multiple of 8/],
        [16, 96, 32, /K = 96 is not a multiple of innerKTiles·16 = 128/],
        [16, 384, 384, /blocks \[1, g\] with g in 32, 64, 128, 256/],
      ];
      for (const [n, k, g, message] of cases) {
        using w = randn([n, k], { dtype: "bf16", device });
        expect(() => AffineQuantizedTensor.fromFloat(w, INT4_FLOAT(g)(w.shape), tiled)).toThrow(message);
      }
      using w = randn([16, 256], { dtype: "bf16", device });
      expect(() => AffineQuantizedTensor.fromFloat(w, INT4_INT(64)(w.shape), tiled)).toThrow(/FLOAT zero-point domain/);
      expect(() => AffineQuantizedTensor.fromFloat(w, INT8(w.shape), tiled)).toThrow(/uint4 values/);
      using small = randn([16, 96], { dtype: "bf16", device });
      using ok = AffineQuantizedTensor.fromFloat(small, INT4_FLOAT(32)(small.shape), new TensorCoreTiledLayout(2)); // 96 % 32 == 0
      expect(ok.layout.options).toEqual({ innerKTiles: 2 });
    });

    test(`storage that does not match the layout's spec, use after dispose and device moves (${device})`, () => {
      using w = randn([8, 64], { device, seed: 1 });
      const q = int8WeightOnly().quantizeWeight(w);
      const { params } = q;
      using wrong = zeros([8, 32], { dtype: "i8", device });
      expect(() => new AffineQuantizedTensor(q.layout, { ...q.storage, int_data: wrong }, params)).toThrow(/int_data must be i8 \[8,64\]/);
      expect(() => new AffineQuantizedTensor(q.layout, { int_data: q.storage.int_data! }, params)).toThrow(/stores \[int_data,scale,zero_point\]/);
      expect(() => new AffineQuantizedTensor(q.layout, q.storage, { ...params, blockSize: [1, 48] })).toThrow(TaoError);
      const moved = q.to("cpu");
      expect(moved.device).toBe("cpu");
      if (device === "cpu") expect(moved).toBe(q);
      else moved.dispose();
      q.dispose();
      q.dispose();
      expect(() => q.dequantize()).toThrow(/disposed/);
      using x = randn([1, 64], { device });
      expect(() => linear(x, q)).toThrow(/weight was disposed/);
    });
  }

  test.skipIf(!hasCuda)(`a quantized weight on cuda:0 and x on the CPU: DEVICE_MISMATCH${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`, () => {
    using w = randn([8, 64], { dtype: "bf16", device: "cuda:0" });
    using q = int4WeightOnly({ groupSize: 32 }).quantizeWeight(w);
    using x = randn([2, 64], { dtype: "bf16" });
    let err: unknown;
    try {
      linear(x, q);
    } catch (e) {
      err = e;
    }
    expect((err as TaoError).codeName).toBe("DEVICE_MISMATCH");
  });

  test("config options that cannot work are TaoErrors", () => {
    expect(() => int4WeightOnly({ zeroPointDomain: ZeroPointDomain.INT })).toThrow(/needs zeroPointDomain FLOAT/);
    expect(() => int4WeightOnly({ groupSize: 48 })).toThrow(/groupSize 32, 64, 128, 256, not 48/);
    expect(() => int4WeightOnly({ groupSize: 0, layout: "plain" })).toThrow(/positive integer/);
    expect(() => int4WeightOnly({ zeroPointDomain: ZeroPointDomain.NONE, layout: "plain" })).toThrow(/FLOAT or INT/);
    expect(() => int4WeightOnly({ innerKTiles: 3 as 2 })).toThrow(/innerKTiles=3/);
    expect(int4WeightOnly({ groupSize: 48, layout: "plain" }).record).toEqual({ name: "int4_weight_only", groupSize: 48, layout: "plain", zeroPointDomain: "FLOAT" });
  });
});

describe("quantized linear dispatch table", () => {
  const KERNELS = [
    { name: "autoquant: record the shapes, then dense linear", priority: QuantizedLinearPriority.KERNEL + 1 },
    { name: "tensor_core_tiled: fused int4 kernel", priority: QuantizedLinearPriority.KERNEL },
    { name: "plain: int8 weight-only kernel", priority: QuantizedLinearPriority.KERNEL },
    { name: "w8a8: quantizeRowsInt8 / quantizeAffine + linearInt8Int8", priority: QuantizedLinearPriority.KERNEL },
    { name: "smoothquant: quantizeRowsInt8 with x / s fused + linearInt8Int8", priority: QuantizedLinearPriority.KERNEL },
    { name: "float8: dynamic activation + float8 matmul", priority: QuantizedLinearPriority.KERNEL },
    { name: "semi_sparse: CUDA with a dense copy, the measured faster of the sparse path and cuBLASLt on the copy", priority: QuantizedLinearPriority.KERNEL },
    { name: "semi_sparse: cuSPARSELt (bf16; int8 after quantizeRowsInt8)", priority: QuantizedLinearPriority.KERNEL },
    { name: "semi_sparse: linearSparse24 (CPU half-MAC kernel; CUDA small-m tensor-core kernel or dense weight + cuBLASLt)", priority: QuantizedLinearPriority.KERNEL },
    { name: "semi_sparse: int8 quantizeRowsInt8 + decompressed linearInt8Int8", priority: QuantizedLinearPriority.KERNEL },
    { name: "nf4: linearNf4 (weight decoded on the fly)", priority: QuantizedLinearPriority.KERNEL },
    { name: "float_cast: cast x to the weight's dtype, dense linear, cast back", priority: QuantizedLinearPriority.KERNEL },
    { name: "uintx: linearUintx (weight decoded on the fly)", priority: QuantizedLinearPriority.KERNEL },
  ];
  const FALLBACKS = [
    { name: "tensor_core_tiled: tinygemm dequantize (bf16) + dense linear", priority: QuantizedLinearPriority.FALLBACK },
    { name: "plain: dequantizeAffine + dense linear", priority: QuantizedLinearPriority.FALLBACK },
    { name: "w8a8: quantize x with the affine primitives + dense f32 linear", priority: QuantizedLinearPriority.FALLBACK },
    { name: "smoothquant: x / s, quantize x with the affine primitives + dense f32 linear", priority: QuantizedLinearPriority.FALLBACK },
    { name: "float8: dequantizeAffine + dense linear", priority: QuantizedLinearPriority.FALLBACK },
    { name: "semi_sparse: decompress + dense linear", priority: QuantizedLinearPriority.FALLBACK },
    { name: "nf4: dequantize + dense linear", priority: QuantizedLinearPriority.FALLBACK },
    { name: "uintx: dequantize + dense linear", priority: QuantizedLinearPriority.FALLBACK },
  ];

  test("lists the fused kernels, then one fallback per layout", () => {
    expect(quantizedLinearTable()).toEqual([...KERNELS, ...FALLBACKS]);
  });

  test("a kernel entry registered later takes precedence where its condition holds, and can be removed", () => {
    using w = randn([8, 64], { dtype: "bf16", seed: 2 });
    using q = int4WeightOnly({ groupSize: 32, layout: "plain" }).quantizeWeight(w);
    using x1 = randn([1, 64], { dtype: "bf16" }), x3 = randn([3, 64], { dtype: "bf16" });
    const remove = registerQuantizedLinear({
      name: "test kernel: plain, M = 3",
      priority: QuantizedLinearPriority.KERNEL,
      condition: (x, wq) => wq.layout.name === "plain" && x.shape[0] === 3,
      impl: (x, wq) => zeros([x.shape[0]!, wq.shape[0]!], { dtype: x.dtype }),
    });
    try {
      expect(quantizedLinearTable()).toEqual([...KERNELS, { name: "test kernel: plain, M = 3", priority: 100 }, ...FALLBACKS]);
      expect(() => registerQuantizedLinear({ ...FALLBACKS[1]!, condition: () => true, impl: (x) => x })).toThrow(/already registered/);
      expect(quantizedLinearImpl(x3, q).name).toBe("test kernel: plain, M = 3");
      expect(quantizedLinearImpl(x1, q).name).toBe(FALLBACKS[1]!.name);
      using y = linear(x3, q);
      expect(Array.from(y.toArray())).toEqual(new Array(24).fill(0));
    } finally {
      remove();
    }
    expect(quantizedLinearTable()).toEqual([...KERNELS, ...FALLBACKS]);
    expect(quantizedLinearImpl(x3, q).name).toBe(FALLBACKS[1]!.name);
  });

  test("no matching entry is UNSUPPORTED; x must be a float tensor", () => {
    using w = randn([8, 64], { seed: 3 });
    using q = int8WeightOnly().quantizeWeight(w);
    const nowhere = Object.create(q.layout, { name: { value: "nowhere" } }) as Layout; // the plain layout, renamed
    const odd = new AffineQuantizedTensor(nowhere, q.storage, q.params);
    using x = randn([2, 64]);
    let err: unknown;
    try {
      linear(x, odd);
    } catch (e) {
      err = e;
    }
    expect((err as TaoError).codeName).toBe("UNSUPPORTED");
    expect((err as TaoError).message).toMatch(/no quantized linear for a nowhere weight and f32 x on cpu/);
    using xi = zeros([2, 64], { dtype: "i8" });
    expect(() => linear(xi, q)).toThrow(/x is i8/);
  });
});
