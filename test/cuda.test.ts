// Backend agreement: every op on cuda:0 equals the CPU result bit for bit; graph capture and events.
// Without a CUDA device the suite is skipped with the capability report's reason.
import { describe, expect, test } from "bun:test";
import {
  chooseQParamsAffine, Context, CopyKind, MappingType, dequantizeAffine, DTYPES, Event, fakeQuantizeAffine, fromArray, full,
  quantizeAffine, rand, randn, TaoError, targetInfo, ZeroPointDomain, type DType, type Tensor,
} from "../lib/index.ts";
import { freshSeed, hasCuda, mismatches, noCudaReason, normals, rng } from "./helpers.ts";
import { affineCases, affineInput } from "./affine_cases.ts";

if (!hasCuda) console.log(`cuda.test.ts skipped: ${noCudaReason}`);

/** fn(t on `device`), disposing the copy if one was made. */
function onDevice<R>(t: Tensor, device: string, fn: (moved: Tensor) => R): R {
  const moved = t.to(device);
  try {
    return fn(moved);
  } finally {
    if (moved !== t) moved.dispose();
  }
}

/** Raw bits of a tensor on the host (NaN payloads included), for bit-for-bit comparison. */
const bits = (t: Tensor): number[] => onDevice(t, "cpu", (h) => Array.from(h.hostData()));

/** Runs `make` on the CPU and on cuda:0 and requires bit-identical results. */
function agree(make: (device: string) => Tensor): void {
  using cpu = make("cpu");
  using gpu = make("cuda:0");
  expect(gpu.device).toBe("cuda:0");
  expect(gpu.dtype).toBe(cpu.dtype);
  expect(gpu.shape).toEqual(cpu.shape);
  expect(mismatches(bits(gpu), bits(cpu))).toEqual([]);
}

describe.skipIf(!hasCuda)(`cuda:0 agrees with the CPU${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`, () => {
  const seed = freshSeed();
  const specials = [0, -0, Infinity, -Infinity, NaN, 1e-40, -1e-45, 65504, 65520, 448, 464, 57344, 1e30, -3.5, 2.5];
  const data = Float32Array.from([...specials, ...normals(rng(seed), 5000, 100)]);

  test.each(DTYPES)(`cast %s -> every dtype (seed ${seed})`, (src) => {
    using x = fromArray(data).cast(src as DType);
    for (const dst of DTYPES) agree((device) => onDevice(x, device, (xd) => xd.cast(dst)));
  });

  test("fill and random fills", () => {
    for (const dtype of DTYPES) agree((device) => full([1000], -7.3, { dtype, device }));
    for (const dtype of ["f32", "bf16", "f16", "f8e4m3fn", "f8e5m2"] as DType[]) {
      agree((device) => randn([4097], { seed, offset: 3, dtype, device }));
      agree((device) => rand([333], { seed: seed + 1, dtype, device, low: -1, high: 4 }));
    }
  });

  test("strided copies: transpose and slice", () => {
    using x = fromArray(data.subarray(0, 4800), { shape: [6, 20, 40] });
    agree((device) => onDevice(x, device, (xd) => xd.transpose(0, 2)));
    agree((device) => onDevice(x, device, (xd) => xd.slice(1, 3, 17)));
    agree((device) => onDevice(x, device, (xd) => xd.slice(2, -9)));
  });

  test.each(affineCases())(`affine: %s (seed ${seed})`, (_name, c, shape, block, dtype) => {
    const n = shape.reduce((a, b) => a * b, 1);
    using x = fromArray(affineInput(c, n, seed), { shape, dtype });
    using xg = x.to("cuda:0");
    const opts = { zeroPointDomain: c.domain, preserveZero: c.preserveZero, quantMin: c.quantMin, quantMax: c.quantMax };
    const cpu = chooseQParamsAffine(x, c.mapping, block, c.target, opts);
    const gpu = chooseQParamsAffine(xg, c.mapping, block, c.target, opts);
    expect(mismatches(bits(gpu.scale), bits(cpu.scale))).toEqual([]);
    if (cpu.zeroPoint) expect(mismatches(bits(gpu.zeroPoint!), bits(cpu.zeroPoint))).toEqual([]);
    // Quantize both with the same (CPU) qparams so each op is compared on its own.
    using s = cpu.scale, sg = s.to("cuda:0");
    using z = cpu.zeroPoint ?? undefined, zg = z?.to("cuda:0");
    gpu.scale.dispose();
    gpu.zeroPoint?.dispose();
    using q = quantizeAffine(x, block, s, z ?? null, c.target, opts);
    using qg = quantizeAffine(xg, block, sg, zg ?? null, c.target, opts);
    expect(mismatches(bits(qg), bits(q))).toEqual([]);
    const on = (d: string) => (d === "cpu" ? { x, q, s, z: z ?? null } : { x: xg, q: qg, s: sg, z: zg ?? null });
    agree((d) => dequantizeAffine(on(d).q, block, on(d).s, on(d).z, c.target, { ...opts, outputDtype: dtype }));
    agree((d) => fakeQuantizeAffine(on(d).x, block, on(d).s, on(d).z, c.target, opts));
  });

  // The GPU's FLOAT-domain quantize estimates rint((x - min_val) / s) with a reciprocal and falls
  // back to the exact division near half-integers (kernels/common/affine.h, rint_div). With s = 0.25 and min_val = 0, x on a 1/8 grid
  // makes every other element an exact tie, so the fallback runs and must match the CPU's division.
  test("FLOAT-domain quantize at exact ties (reciprocal fallback path)", () => {
    const shape = [64, 256], block = [1, 32], nq = (64 * 256) / 32;
    const x = Float32Array.from({ length: 64 * 256 }, (_, i) => ((i * 7) % 129) / 8 - 0.5);
    using xc = fromArray(x, { shape });
    using s = full([nq], 0.25), z = full([nq], 2); // min_val = z - s * mid = 2 - 0.25 * 8 = 0
    const opts = { zeroPointDomain: ZeroPointDomain.FLOAT };
    using q = quantizeAffine(xc, block, s, z, "uint4", opts);
    // Reference: rint_half_even((x - 0) / 0.25) clamped to [0, 15].
    const half = (v: number) => { const f = Math.floor(v); const d = v - f; return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f; };
    expect(mismatches(q.hostData(), Array.from(x, (v) => Math.min(15, Math.max(0, half(v / 0.25)))))).toEqual([]);
    agree((d) => onDevice(xc, d, (xd) => onDevice(s, d, (sd) => onDevice(z, d, (zd) => quantizeAffine(xd, block, sd, zd, "uint4", opts)))));
  });

  test("graph capture: quantize + dequantize replays on new input", () => {
    const ctx = Context.get("cuda:0");
    const shape = [8, 256], block = [1, 64];
    using x = randn(shape, { seed, device: "cuda:0" });
    const { scale, zeroPoint } = chooseQParamsAffine(x, MappingType.ASYMMETRIC, block, "uint4");
    using s = scale;
    using z = zeroPoint!;
    using q = quantizeAffine(x, block, s, z, "uint4");
    using dq = dequantizeAffine(q, block, s, z, "uint4");
    using graph = ctx.captureGraph(() => {
      quantizeAffine(x, block, s, z, "uint4", { out: q });
      dequantizeAffine(q, block, s, z, "uint4", { out: dq });
    });
    const fresh = normals(rng(seed + 1), 8 * 256);
    ctx.copy(x.ptr("test"), fresh, fresh.byteLength, CopyKind.H2D);
    graph.launch();
    ctx.synchronize();
    using xh = fromArray(fresh, { shape });
    using sh = s.to("cpu"), zh = z.to("cpu");
    using qh = quantizeAffine(xh, block, sh, zh, "uint4");
    using expected = dequantizeAffine(qh, block, sh, zh, "uint4");
    expect(mismatches(dq.toArray(), expected.toArray())).toEqual([]);
    graph.launch();
    graph.dispose();
    graph.dispose();
    expect(() => graph.launch()).toThrow();
  });

  test("events give a positive elapsed time", () => {
    const ctx = Context.get("cuda:0");
    using start = ctx.createEvent().record();
    using x = randn([1 << 22], { seed, device: "cuda:0" });
    using y = x.cast("bf16");
    using end = ctx.createEvent().record();
    expect(Event.elapsedMs(start, end)).toBeGreaterThan(0);
    expect(y.numel).toBe(1 << 22);
  });

  test("read passes over device memory and rejects unaligned or host buffers", () => {
    const ctx = Context.get("cuda:0");
    const p = ctx.alloc(1 << 20);
    ctx.read(p, 1 << 20);
    ctx.synchronize();
    expect(() => ctx.read(p + 8n, 16)).toThrow(/multiples of 16/);
    expect(() => ctx.read(new Uint8Array(64), 64)).toThrow(TaoError);
    ctx.free(p);
  });

  test("a host buffer given to the CUDA context is DEVICE_MISMATCH from C", () => {
    const ctx = Context.get("cuda:0");
    const host = new Uint8Array(64);
    let code = "";
    try {
      ctx.memset(host, 0, 64);
    } catch (e) {
      code = (e as { codeName: string }).codeName;
    }
    expect(code).toBe("DEVICE_MISMATCH");
  });

  test("quantized storage dtypes round trip through the device", () => {
    for (const t of ["int8", "uint4", "float8_e5m2"] as const) {
      const storage = targetInfo(t).storage;
      using x = fromArray(data.subarray(0, 256)).cast(storage);
      expect(onDevice(x, "cuda:0", bits)).toEqual(bits(x));
    }
  });
});
