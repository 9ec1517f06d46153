// nn: Module trees (names, parameters, state dicts, devices, disposal, replacement), Linear, Sequential.
import { describe, expect, test } from "bun:test";
import { fromArray, int8WeightOnly, Linear, linear, Module, quantize, randn, Sequential, TaoError, Tensor, zeros, type Parameter } from "../lib/index.ts";
import { freshSeed, hasCuda, noCudaReason } from "./helpers.ts";

/** Two Linears: fc1 4 -> 6, fc2 6 -> 4 (no bias). */
class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(seed: number) {
    super();
    this.fc1 = this.registerModule("fc1", new Linear(4, 6, { seed }));
    this.fc2 = this.registerModule("fc2", new Linear(6, 4, { seed: seed + 1, bias: false }));
  }
  forward(x: Tensor): Tensor {
    using h = this.fc1.forward(x);
    return this.fc2.forward(h);
  }
}

/** A root with its own parameter and a Sequential of two Mlps: names "scale", "layers.0.fc1.weight", ... */
class Net extends Module {
  readonly layers: Sequential;
  constructor(seed: number) {
    super();
    this.registerParameter("scale", zeros([3]));
    this.layers = this.registerModule("layers", new Sequential(new Mlp(seed), new Mlp(seed + 2)));
  }
  forward(x: Tensor): Tensor {
    return this.layers.forward(x);
  }
}

const PARAMS = [
  "scale",
  "layers.0.fc1.weight", "layers.0.fc1.bias", "layers.0.fc2.weight",
  "layers.1.fc1.weight", "layers.1.fc1.bias", "layers.1.fc2.weight",
];

/** The message of the TaoError `fn` throws. */
function taoMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof TaoError) return e.message;
    throw e;
  }
  throw new Error("expected a TaoError, nothing was thrown");
}

// The values of a parameter that must be a plain tensor (these nets are not quantized).
const plain = (p: Parameter | null): Tensor => {
  if (!(p instanceof Tensor)) throw new Error(`expected a plain tensor, got ${p === null ? "null" : p.layout.name}`);
  return p;
};
const values = (p: Parameter | null) => Array.from(plain(p).toArray());

describe("Module tree", () => {
  const seed = freshSeed();

  test(`qualified module and parameter names, in registration order (seed ${seed})`, () => {
    using net = new Net(seed);
    expect(net.namedModules().map(([name]) => name)).toEqual(
      ["", "layers", "layers.0", "layers.0.fc1", "layers.0.fc2", "layers.1", "layers.1.fc1", "layers.1.fc2"],
    );
    expect(net.namedModules()[3]![1]).toBe(net.layers.getModule("0").getModule("fc1"));
    expect(net.namedParameters().map(([name]) => name)).toEqual(PARAMS);
    expect(net.parameters()).toEqual(net.namedParameters().map(([, t]) => t));
    const dict = net.stateDict();
    expect(Object.keys(dict)).toEqual(PARAMS);
    expect(dict["layers.1.fc1.weight"]).toBe((net.layers.getModule("1") as Mlp).fc1.weight); // no copies
  });

  test("Linear: shapes, PyTorch's init range, seeded, bias: false registers an absent bias", () => {
    using a = new Linear(100, 7, { seed }), b = new Linear(100, 7, { seed });
    expect([a.weight.shape, a.bias!.shape, a.weight.dtype]).toEqual([[7, 100], [7], "f32"]);
    expect(values(a.weight)).toEqual(values(b.weight));
    expect(values(a.bias!)).not.toEqual(values(a.weight).slice(0, 7));
    const all = [...values(a.weight), ...values(a.bias!)]; // uniform(-1/sqrt(100), 1/sqrt(100))
    expect([Math.min(...all) >= -Math.fround(0.1), Math.max(...all) <= Math.fround(0.1)]).toEqual([true, true]);
    expect([Math.min(...all) < -0.09, Math.max(...all) > 0.09]).toEqual([true, true]);
    using c = new Linear(3, 2, { bias: false, dtype: "bf16" });
    expect([c.weight.dtype, c.weight.device]).toEqual(["bf16", "cpu"]);
    expect(c.bias).toBeNull();
    expect(c.getParameter("bias")).toBeNull();
    expect(c.namedParameters().map(([n]) => n)).toEqual(["weight"]);
    expect(taoMessage(() => new Linear(0, 3))).toMatch(/positive integers/);
  });

  test("registering a name twice or a dotted name is an error; unknown names are errors", () => {
    class Bad extends Module {
      constructor(name: string, twice: boolean) {
        super();
        this.registerParameter(name, null);
        if (twice) this.registerModule(name, new Linear(1, 1));
      }
      forward(): void {}
    }
    expect(taoMessage(() => new Bad("a", true))).toMatch(/"a" is already registered/);
    expect(taoMessage(() => new Bad("a.b", false))).toMatch(/bad name "a.b"/);
    using lin = new Linear(2, 2);
    expect(taoMessage(() => lin.getParameter("nope"))).toMatch(/no parameter "nope"/);
    expect(taoMessage(() => lin.setParameter("nope", null))).toMatch(/no parameter "nope"/);
    expect(taoMessage(() => lin.setModule("nope", new Linear(1, 1)))).toMatch(/no child module "nope"/);
  });
});

describe("state dicts", () => {
  const seed = freshSeed();

  test(`loadStateDict copies values into the existing tensors (seed ${seed})`, () => {
    using src = new Net(seed), dst = new Net(seed + 100);
    const before = dst.parameters();
    expect(dst.loadStateDict(src.stateDict())).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(dst.parameters()).toEqual(before);
    for (const [name, t] of dst.namedParameters()) expect(values(t)).toEqual(values(src.stateDict()[name]!));
    expect(dst.parameters()[1]).not.toBe(src.parameters()[1]);
  });

  test("strict reports missing and unexpected keys as a TaoError and copies nothing", () => {
    using net = new Net(seed);
    using extra = zeros([1]);
    using bias = zeros([6]);
    const dict: Record<string, Tensor> = { ...net.stateDict(), "layers.0.fc1.bias": bias, "layers.9.weight": extra };
    delete dict["scale"];
    const before = values(net.stateDict()["layers.0.fc1.bias"]!);
    expect(taoMessage(() => net.loadStateDict(dict))).toMatch(/missing keys \[scale\], unexpected keys \[layers.9.weight\]/);
    expect(values(net.stateDict()["layers.0.fc1.bias"]!)).toEqual(before);
  });

  test("non-strict loads what matches and reports the rest", () => {
    using net = new Net(seed);
    using scale = fromArray([1, 2, 3]);
    expect(net.loadStateDict({ scale, other: scale }, { strict: false })).toEqual({
      missingKeys: PARAMS.slice(1),
      unexpectedKeys: ["other"],
    });
    expect(values(net.getParameter("scale")!)).toEqual([1, 2, 3]);
  });

  test("a shape or dtype mismatch is an error even when not strict, and copies nothing", () => {
    using net = new Net(seed);
    using wrongShape = zeros([4]), wrongDtype = zeros([3], { dtype: "bf16" }), fine = fromArray([1, 1, 1]);
    using bias = zeros([6]);
    expect(taoMessage(() => net.loadStateDict({ "layers.0.fc1.bias": bias, scale: wrongShape }, { strict: false })))
      .toMatch(/scale: the module has f32\[3\], the state dict f32\[4\]/);
    expect(values(net.getParameter("scale")!)).toEqual([0, 0, 0]);
    expect(values(net.layers.getModule("0").getModule("fc1").getParameter("bias")!)).not.toEqual(new Array(6).fill(0));
    expect(taoMessage(() => net.loadStateDict({ scale: wrongDtype }, { strict: false }))).toMatch(/bf16\[3\]/);
    net.loadStateDict({ scale: fine }, { strict: false });
    expect(values(net.getParameter("scale")!)).toEqual([1, 1, 1]);
  });

  test("a quantized value (a quantized net's stateDict) is a TaoError naming its layout; nothing is copied", () => {
    using q = new Linear(64, 8, { seed }), dense = new Linear(64, 8, { seed: seed + 1 });
    quantize(q, int8WeightOnly());
    const before = values(dense.weight);
    expect(taoMessage(() => dense.loadStateDict(q.stateDict()))).toMatch(/weight: the state dict holds a quantized weight \(plain layout\)/);
    expect(values(dense.weight)).toEqual(before);
  });
});

describe("forward, devices, disposal, replacement", () => {
  const seed = freshSeed();

  test(`Sequential of two Linears equals the manual composition (seed ${seed})`, () => {
    using l1 = new Linear(5, 9, { seed }), l2 = new Linear(9, 4, { seed: seed + 1 });
    using seq = new Sequential(l1, l2);
    expect(seq.length).toBe(2);
    using x = randn([2, 3, 5], { seed: seed + 2 });
    using y = seq.forward(x);
    using h = linear(x, l1.weight, l1.bias);
    using expected = linear(h, l2.weight, l2.bias);
    expect(y.shape).toEqual([2, 3, 4]);
    expect(values(y)).toEqual(values(expected));
    expect(x.disposed).toBe(false);
    using net = new Net(seed);
    using input = randn([7, 4], { seed });
    using out = net.forward(input);
    expect(out.shape).toEqual([7, 4]);
  });

  test("Sequential disposes intermediate results, but not the input, views of it or the output", () => {
    /** Returns a view of its input and remembers it. */
    class Flatten extends Module {
      seen: Tensor[] = [];
      forward(x: Tensor): Tensor {
        this.seen.push(x);
        return x.reshape(-1, x.shape[x.ndim - 1]!);
      }
    }
    const probe = new Flatten();
    using l1 = new Linear(5, 9, { seed }), l2 = new Linear(9, 4, { seed: seed + 1 });
    using seq = new Sequential(probe, l1, probe, l2, probe);
    using x = randn([2, 3, 5], { seed });
    using y = seq.forward(x);
    const [input, hidden, output] = probe.seen as [Tensor, Tensor, Tensor];
    expect([input.disposed, hidden.disposed, output.disposed, x.disposed, y.disposed]).toEqual([false, true, false, false, false]);
    expect(input).toBe(x);
    expect(y.storage).toBe(output.storage);
    expect(y.shape).toEqual([6, 4]);
  });

  test("to(\"cpu\") on a CPU module changes nothing and returns the module", () => {
    using net = new Net(seed);
    const before = net.parameters();
    expect(net.to("cpu")).toBe(net);
    expect(net.parameters()).toEqual(before);
    expect(before.every((t) => !t.disposed)).toBe(true);
    expect(taoMessage(() => net.to("tpu"))).toMatch(/unknown device/);
  });

  test("dispose (and using) disposes every parameter", () => {
    let kept: Parameter[];
    {
      using net = new Net(seed);
      kept = net.parameters();
      expect(kept.some((t) => t.disposed)).toBe(false);
    }
    expect(kept.every((t) => t.disposed)).toBe(true);
    const lin = new Linear(2, 2);
    lin.dispose();
    lin.dispose();
    expect(lin.weight.disposed && lin.bias!.disposed).toBe(true);
    expect(taoMessage(() => lin.forward(zeros([1, 2])))).toMatch(/x was disposed|weight was disposed/);
  });

  test("setParameter and setModule take effect in forward and hand back the previous value", () => {
    using lin = new Linear(3, 2, { seed });
    using x = fromArray([1, 2, 3], { shape: [1, 3] });
    using w = fromArray([1, 0, 0, 0, 0, 1], { shape: [2, 3] });
    using oldWeight = lin.setParameter("weight", w)!;
    expect(oldWeight).not.toBe(w);
    expect(lin.weight).toBe(w);
    using oldBias = lin.setParameter("bias", null)!;
    expect(oldBias.shape).toEqual([2]);
    using y = lin.forward(x);
    expect(values(y)).toEqual([1, 3]);
    expect(lin.stateDict()).toEqual({ weight: w });

    using seq = new Sequential(new Linear(3, 2, { seed }), new Linear(2, 2, { seed }));
    using swap = new Linear(2, 1, { seed });
    using old = seq.setModule("1", swap);
    expect(seq.getModule("1")).toBe(swap);
    using z = seq.forward(x);
    expect(z.shape).toEqual([1, 1]);
    expect(seq.namedParameters().map(([n]) => n)).toEqual(["0.weight", "0.bias", "1.weight", "1.bias"]);
    expect(seq.parameters()[2]).toBe(swap.weight);
  });
});

test.skipIf(!hasCuda)(`to("cuda:0") and back, loadStateDict across devices${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`, () => {
  const seed = freshSeed();
  using cpu = new Net(seed), gpu = new Net(seed + 1);
  const before = gpu.parameters();
  expect(gpu.to("cuda:0")).toBe(gpu);
  expect(gpu.parameters().every((t) => t.device === "cuda:0")).toBe(true);
  expect(before.every((t) => t.disposed)).toBe(true);
  gpu.loadStateDict(cpu.stateDict());
  for (const [name, t] of gpu.namedParameters()) expect(values(t)).toEqual(values(cpu.stateDict()[name]!));
  using x = randn([5, 4], { seed });
  using xg = x.to("cuda:0");
  using y = cpu.forward(x), yg = gpu.forward(xg);
  expect(yg.device).toBe("cuda:0");
  const a = values(y), b = values(yg);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(a[i]!)));
  gpu.to("cpu");
  expect(gpu.parameters().every((t) => t.device === "cpu")).toBe(true);

  using tied = new Sequential(new Linear(4, 4), new Linear(4, 4));
  const w = tied.parameters()[0]!;
  tied.getModule("1").setParameter("weight", w)!.dispose();
  tied.to("cuda:0");
  const [w0, , w1] = tied.parameters();
  expect([w0!.device, w0 === w1, w.disposed]).toEqual(["cuda:0", true, true]);
});
