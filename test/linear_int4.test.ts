// linearInt4TensorCoreTiled against a float64 product with the weight tinygemm would dequantize
// (dequantizeInt4TensorCoreTiled, itself checked against PyTorch), over shapes and devices.
import { describe, expect, test } from "bun:test";
import {
  dequantizeInt4TensorCoreTiled, fromArray, linearInt4TensorCoreTiled, packInt4TensorCoreTiled, packTinygemmScalesAndZeros,
  randn, TaoError, type InnerKTiles,
} from "../lib/index.ts";
import { devices, freshSeed, rng } from "./helpers.ts";

describe("int4 tensor-core-tiled linear", () => {
  const seed = freshSeed();
  for (const device of devices) {
    test(`matches the float64 reference (${device}, seed ${seed})`, () => {
      const next = rng(seed);
      for (const [m, n, k, tiles, group, withBias] of [
        [1, 8, 64, 2, 32, false], [1, 64, 1024, 8, 128, true], [3, 40, 256, 4, 64, true], [5, 16, 2048, 8, 256, false],
        [9, 24, 512, 8, 32, true], [17, 8, 1152, 8, 128, false], [2, 136, 384, 8, 128, true],
      ] as const) {
        const q = Uint8Array.from({ length: n * k }, () => Math.floor(next() * 16));
        using qt = fromArray(q, { shape: [n, k], device });
        using packed = packInt4TensorCoreTiled(qt, tiles as InnerKTiles);
        using scales = randn([n, k / group], { dtype: "bf16", device, seed: seed + 1, mean: 0.02, std: 0.005 });
        using zeros = randn([n, k / group], { dtype: "bf16", device, seed: seed + 2, std: 0.05 });
        using sz = packTinygemmScalesAndZeros(scales, zeros);
        using x = randn([m, k], { dtype: "bf16", device, seed: seed + 3 });
        using bias = randn([n], { dtype: "bf16", device, seed: seed + 4 });
        using y = linearInt4TensorCoreTiled(x, packed, sz, group, withBias ? bias : null);
        expect(y.shape).toEqual([m, n]);
        using w = dequantizeInt4TensorCoreTiled(packed, sz, group);
        const W = w.toArray(), X = x.toArray(), B = bias.toArray(), Y = y.toArray();
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let ref = withBias ? B[j]! : 0, mag = Math.abs(ref);
            for (let t = 0; t < k; t++) ref += X[i * k + t]! * W[j * k + t]!, mag += Math.abs(X[i * k + t]! * W[j * k + t]!);
            // bf16 output rounding (2^-8 relative) plus f32 accumulation and the un-rounded
            // dequantization (W is bf16-rounded in the reference, exact in the kernel: 2^-9 each).
            const tol = Math.abs(ref) * 2 ** -8 + mag * (2 ** -9 + 4 * Math.sqrt(k) * 2 ** -24) + 1e-30;
            if (!(Math.abs(Y[i * n + j]! - ref) <= tol)) throw new Error(`m=${m} n=${n} k=${k} [${i},${j}]: ${Y[i * n + j]} vs ${ref} (tol ${tol})`);
          }
        }
      }
    });

    test(`bad inputs are TaoErrors (${device})`, () => {
      using q = fromArray(new Uint8Array(16 * 256), { shape: [16, 256], device });
      using packed = packInt4TensorCoreTiled(q, 8);
      using scales = randn([16, 2], { dtype: "bf16", device }), zeros = randn([16, 2], { dtype: "bf16", device });
      using sz = packTinygemmScalesAndZeros(scales, zeros);
      using xf = randn([1, 256], { device });
      expect(() => linearInt4TensorCoreTiled(xf, packed, sz, 128)).toThrow(TaoError); // f32 x
      using xk = randn([1, 255], { dtype: "bf16", device });
      expect(() => linearInt4TensorCoreTiled(xk, packed, sz, 128)).toThrow(TaoError); // K mismatch
      using x = randn([1, 256], { dtype: "bf16", device });
      expect(() => linearInt4TensorCoreTiled(x, packed, sz, 64)).toThrow(TaoError); // wrong group for sz
    });
  }
});
