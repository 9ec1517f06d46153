// PyTorch's tinygemm int4 fixtures (bench/peers/make_int4pack_fixtures.py, made on an H100 with
// PyTorch 2.11): the files parse, and our FLOAT-zero-point dequantize of the plain uint4 values
// reproduces the weight tinygemm's own kernel dequantizes from its packed form, bit for bit —
// so tinygemm's convention and our primitives agree before any packed layout is involved.
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { dequantizeAffine, readSafetensors, ZeroPointDomain } from "../lib/index.ts";
import { devices, mismatches } from "./helpers.ts";

const dir = join(import.meta.dir, "fixtures");
const files = readdirSync(dir).filter((f) => f.startsWith("int4pack_") && f.endsWith(".safetensors"));

describe("tinygemm int4 fixtures", () => {
  test("there are fixtures for inner_k_tiles 2, 4 and 8", () => {
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(new Set(files.map((f) => /_t(\d+)_/.exec(f)![1]))).toEqual(new Set(["2", "4", "8"]));
  });

  for (const file of files) {
    for (const device of devices) {
      test(`${file}: FLOAT-domain dequantize equals tinygemm's (${device})`, () => {
        const { metadata, tensors } = readSafetensors(join(dir, file));
        const n = Number(metadata.n), k = Number(metadata.k), g = Number(metadata.group_size);
        const itiles = Number(metadata.inner_k_tiles);
        const get = (name: string) => tensors.get(name)!;
        expect(get("q").shape).toEqual([n, k]);
        expect(get("packed").shape).toEqual([n / 8, k / (itiles * 16), 32, itiles / 2]);
        expect(get("scales_and_zeros").shape).toEqual([k / g, n, 2]);
        const q = get("q").to(device), s = get("scales").to(device), z = get("zeros").to(device);
        using out = dequantizeAffine(q, [1, g], s, z, "uint4", { zeroPointDomain: ZeroPointDomain.FLOAT, outputDtype: "bf16" });
        expect(mismatches(out.to("cpu").hostData(), get("dequantized").hostData())).toEqual([]);
        for (const t of [q, s, z]) if (t.device !== "cpu") t.dispose();
      });
    }
  }
});
