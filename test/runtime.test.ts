// Library queries, contexts, events and graphs.
import { expect, test } from "bun:test";
import {
  capabilities, Context, cudaDeviceCount, Event, libraryPath, MathLib, native, randn, runtime, setCpuThreads, TaoError, version,
} from "../lib/index.ts";
import { NativeResource } from "../lib/resource.ts";

test("library: version, capabilities, device count", () => {
  expect(version()).toMatch(/^\d+\.\d+\.\d+$/);
  const caps = capabilities();
  expect(caps.version).toBe(version());
  expect(caps.cpu.threads).toBeGreaterThan(0);
  expect(Array.isArray(caps.cpu.features)).toBe(true);
  expect(caps.cuda.devices.length).toBe(cudaDeviceCount());
  expect(typeof caps.cublaslt.available).toBe("boolean");
  expect(runtime).toBe("bun");
  expect(libraryPath).toMatch(/libtao\.so$/);
  expect(native.tao_noop()).toBe(0);
});

test("setCpuThreads changes the CPU thread count and kernels still agree", () => {
  using ref = randn([1 << 16], { seed: 9 });
  try {
    setCpuThreads(1);
    expect(capabilities().cpu.threads).toBe(1);
    using one = randn([1 << 16], { seed: 9 });
    expect(one.toArray()).toEqual(ref.toArray());
  } finally {
    setCpuThreads(0);
  }
  expect(() => setCpuThreads(-3)).toThrow(TaoError);
});

test("contexts are cached per device; dispose makes the next get fresh", () => {
  const a = Context.get("cpu");
  expect(Context.get()).toBe(a);
  expect(a.device).toBe("cpu");
  expect(a.ordinal).toBe(-1);
  const tmp = Context.get("cpu");
  tmp.dispose();
  tmp.dispose();
  expect(() => tmp.alloc(16)).toThrow(TaoError);
  const b = Context.get("cpu");
  expect(b).not.toBe(tmp);
  expect(b.disposed).toBe(false);
});

test("context memory: alloc, memset, copy, free", () => {
  const ctx = Context.get("cpu");
  const p = ctx.alloc(64);
  expect(p % 256n).toBe(0n);
  ctx.memset(p, 0x41, 64);
  const back = new Uint8Array(64);
  ctx.copy(back, p, 64, 1);
  expect(back.every((v) => v === 0x41)).toBe(true);
  ctx.read(p, 64);
  expect(() => ctx.read(p + 8n, 16)).toThrow(/multiples of 16/);
  expect(() => ctx.read(p, 24)).toThrow(TaoError);
  ctx.free(p);
  ctx.synchronize();
  expect(() => ctx.alloc(0)).toThrow(TaoError);
});

test("CPU events measure elapsed time; CPU graph capture is UNSUPPORTED", () => {
  const ctx = Context.get("cpu");
  using start = ctx.createEvent().record();
  using x = randn([1 << 18], { seed: 1 });
  using end = ctx.createEvent().record();
  expect(Event.elapsedMs(start, end)).toBeGreaterThanOrEqual(0);
  expect(x.numel).toBe(1 << 18);
  let ran = false;
  try {
    ctx.captureGraph(() => (ran = true));
    throw new Error("capture on the CPU should fail");
  } catch (e) {
    expect(e).toBeInstanceOf(TaoError);
    expect((e as TaoError).codeName).toBe("UNSUPPORTED");
  }
  expect(ran).toBe(false);
});

test("math libraries: the CPU context answers UNSUPPORTED, bad masks INVALID_ARGUMENT", () => {
  const ctx = Context.get("cpu");
  expect(() => ctx.initMathlibs(MathLib.CUBLASLT)).toThrow(expect.objectContaining({ codeName: "UNSUPPORTED" }));
  expect(() => ctx.initMathlibs(8)).toThrow(expect.objectContaining({ codeName: "INVALID_ARGUMENT" }));
});

// On a GPU machine: each library the capability report calls available gives a handle; one it
// does not gives UNAVAILABLE naming the library and the reason.
test.skipIf(cudaDeviceCount() === 0)("math libraries on cuda:0 follow the capability report", () => {
  const caps = capabilities();
  const ctx = Context.get("cuda:0");
  for (const [bit, key, name] of [[MathLib.CUBLASLT, "cublaslt", "cuBLASLt"], [MathLib.CUSPARSELT, "cusparselt", "cuSPARSELt"]] as const) {
    if (caps[key].available) {
      ctx.initMathlibs(bit);
      ctx.initMathlibs(bit); // idempotent
    } else {
      expect(() => ctx.initMathlibs(bit)).toThrow(new RegExp(name));
    }
  }
});

test.skipIf(cudaDeviceCount() > 0)("a CUDA context without CUDA is UNAVAILABLE, not a crash", () => {
  expect(() => Context.get("cuda:0")).toThrow(/tao_ctx_create/);
  try {
    Context.get("cuda:0");
  } catch (e) {
    expect((e as TaoError).codeName).toBe("UNAVAILABLE");
  }
});

test("NativeResource: dispose releases once; the FinalizationRegistry releases what was never disposed", async () => {
  const released: string[] = [];
  class Probe extends NativeResource {
    constructor(name: string) {
      super("Probe.dispose", () => (released.push(name), 0));
    }
  }
  const kept = new Probe("disposed");
  kept.dispose();
  kept.dispose();
  expect(released).toEqual(["disposed"]);
  (() => {
    for (let i = 0; i < 100; i++) new Probe("collected");
  })();
  for (let i = 0; i < 20 && released.length < 2; i++) {
    Bun.gc(true);
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(released.filter((r) => r === "collected").length).toBeGreaterThan(0);
  expect(released.filter((r) => r === "disposed").length).toBe(1);
});
