// The tensor-core-tiled int4 layout against PyTorch's own packing (test/fixtures, made by
// bench/peers/make_int4pack_fixtures.py): pack, unpack, scales_and_zeros and the fused dequantize
// are bit-exact on every device present; bad inputs are TaoErrors.
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import {
  dequantizeInt4TensorCoreTiled, fromArray, packInt4TensorCoreTiled, packTinygemmScalesAndZeros, readSafetensors, TaoError,
  unpackInt4TensorCoreTiled, zeros, type InnerKTiles,
} from "../lib/index.ts";
import { bits, devices, freshSeed, mismatches, rng } from "./helpers.ts";

const dir = join(import.meta.dir, "fixtures");
const files = readdirSync(dir).filter((f) => f.startsWith("int4pack_") && f.endsWith(".safetensors"));

describe("tensor-core-tiled int4 layout vs PyTorch", () => {
  for (const file of files) {
    for (const device of devices) {
      test(`${file} (${device})`, () => {
        const { metadata, tensors } = readSafetensors(join(dir, file));
        const tiles = Number(metadata.inner_k_tiles) as InnerKTiles, group = Number(metadata.group_size);
        const get = (name: string) => tensors.get(name)!.to(device);
        const q = get("q"), packedRef = tensors.get("packed")!;
        using packed = packInt4TensorCoreTiled(q, tiles);
        expect(packed.shape).toEqual(packedRef.shape);
        expect(mismatches(bits(packed), Array.from(packedRef.hostData()))).toEqual([]);
        using back = unpackInt4TensorCoreTiled(get("packed"));
        expect(mismatches(bits(back), Array.from(tensors.get("q")!.hostData()))).toEqual([]);
        using sz = packTinygemmScalesAndZeros(get("scales"), get("zeros"));
        expect(mismatches(bits(sz), Array.from(tensors.get("scales_and_zeros")!.hostData()))).toEqual([]);
        using w = dequantizeInt4TensorCoreTiled(packed, sz, group);
        expect(mismatches(bits(w), Array.from(tensors.get("dequantized")!.hostData()))).toEqual([]);
      });
    }
  }
});

describe("tensor-core-tiled int4 layout", () => {
  for (const device of devices) {
    test(`pack then unpack is the identity on random weights (${device})`, () => {
      const next = rng(freshSeed());
      for (const [n, k, tiles] of [[8, 32, 2], [24, 64, 4], [16, 384, 8], [40, 256, 8]] as const) {
        const values = Uint8Array.from({ length: n * k }, () => Math.floor(next() * 16));
        using q = fromArray(values, { shape: [n, k], device });
        using p = packInt4TensorCoreTiled(q, tiles as InnerKTiles);
        using back = unpackInt4TensorCoreTiled(p);
        expect(mismatches(bits(back), Array.from(values))).toEqual([]);
      }
    });

    test(`bad shapes and dtypes are TaoErrors (${device})`, () => {
      using q = zeros([12, 64], { dtype: "u8", device });
      expect(() => packInt4TensorCoreTiled(q, 2)).toThrow(TaoError); // N not a multiple of 8
      using q2 = zeros([16, 48], { dtype: "u8", device });
      expect(() => packInt4TensorCoreTiled(q2, 2)).toThrow(TaoError); // K not a multiple of 32
      using f = zeros([16, 64], { device });
      expect(() => packInt4TensorCoreTiled(f, 2)).toThrow(TaoError); // not u8
      using p = packInt4TensorCoreTiled(zeros([16, 64], { dtype: "u8", device }), 2);
      using sz = zeros([64 / 32, 16, 2], { dtype: "bf16", device });
      expect(() => dequantizeInt4TensorCoreTiled(p, sz, 48)).toThrow(TaoError); // group does not divide K
      using wrong = zeros([3, 16, 2], { dtype: "bf16", device });
      expect(() => dequantizeInt4TensorCoreTiled(p, wrong, 32)).toThrow(TaoError);
    });
  }
});
