// Loading libtao through Deno.dlopen, runtime queries and tensors under Deno.
import {
  capabilities, Context, cudaDeviceCount, fromArray, native, randn, runtime, symbols, TaoError, version, zeros,
} from "../../lib/index.ts";
import { decodeFloat, encodeFloat, mismatches } from "../helpers.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";

Deno.test("libtao is opened with Deno.dlopen and every symbol is bound", () => {
  assertEquals(runtime, "deno");
  for (const name of Object.keys(symbols)) assertEquals(typeof native[name as keyof typeof native], "function", name);
  assertEquals(native.tao_noop(), 0);
  assert(/^\d+\.\d+\.\d+$/.test(version()));
});

Deno.test("capabilities and device count", () => {
  const caps = capabilities();
  assertEquals(caps.version, version());
  assert(caps.cpu.threads > 0);
  assertEquals(caps.cuda.devices.length, cudaDeviceCount());
});

Deno.test("tensors: create, zero-copy wrap, reshape, transpose, slice", () => {
  const data = new Float32Array([1, 2, 3, 4, 5, 6]);
  const t = fromArray(data, { shape: [2, 3] });
  data[0] = 10;
  assertEquals(t.toArray(), [10, 2, 3, 4, 5, 6]);
  assertEquals(t.transpose(0, 1).toArray(), [10, 4, 2, 5, 3, 6]);
  assertEquals(t.slice(1, 1).toArray(), [2, 3, 5, 6]);
  assertEquals(t.reshape(3, 2).shape, [3, 2]);
  using z = zeros([3], { dtype: "i32" });
  assertEquals(z.toArray(), new Int32Array(3));
});

Deno.test("casts are bit exact against the reference encoders", () => {
  const values = [0, -0, 1, -1.5, 3.14159, 65504, 65520, 1e-7, 448, 500, Infinity, NaN, 2 ** -140];
  const x = fromArray(values);
  for (const format of ["f16", "bf16", "f8e4m3fn", "f8e5m2"] as const) {
    using c = x.cast(format);
    const got = Array.from(c.hostData(), (b) => decodeFloat(b, format));
    const want = values.map((v) => decodeFloat(encodeFloat(Math.fround(v), format), format));
    assertEquals(mismatches(got, want, true), [], format);
  }
});

Deno.test("dispose is idempotent and use after dispose throws TaoError", () => {
  const t = randn([4], { seed: 1 });
  t.dispose();
  t.dispose();
  const e = assertThrows(() => t.cast("bf16"), TaoError);
  assertEquals(e.codeName, "INVALID_ARGUMENT");
  assertEquals(e.op, "Tensor.cast");
});

Deno.test("errors from C and allocation failures are TaoErrors", () => {
  assertEquals(assertThrows(() => Context.get("cpu").alloc(0), TaoError).codeName, "INVALID_ARGUMENT");
  assertEquals(assertThrows(() => zeros([2 ** 50], { dtype: "u8" }), TaoError).codeName, "OUT_OF_MEMORY");
  assertEquals(fromArray([1, 2]).cast("bf16").toArray(), [1, 2]);
});
