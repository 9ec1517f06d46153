/** embedding: table rows by token id (tao_embedding). */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { FLOAT_DTYPES, into, liveOnOneDevice, requireDtype } from "./op_args.ts";

/**
 * out[..., t, :] = table[ids[..., t], :] for int32 ids [..., T] and table [V, D] (f32, f16 or bf16);
 * out is [..., T, D] in the table's dtype and on its device. An id outside [0, V) is a TaoError when
 * the ids are on the host (a host ids tensor with a CUDA table is checked, then uploaded); ids already
 * on a GPU are not read back: an out-of-range id there gives a row of zeros.
 */
export function embedding(ids: Tensor, table: Tensor, opts: { out?: Tensor } = {}): Tensor {
  const op = "embedding";
  liveOnOneDevice(op, { table, out: opts.out });
  if (ids.disposed) throw invalid(op, "ids was disposed");
  requireDtype(op, "ids", ids, "i32");
  requireDtype(op, "table", table, FLOAT_DTYPES);
  if (table.ndim !== 2) throw invalid(op, `table must be [V, D], not [${table.shape}]`);
  const [vocab, dim] = table.shape as [number, number];
  if (ids.device !== table.device) {
    if (ids.device !== "cpu") throw invalid(op, `ids on ${ids.device} but table on ${table.device}`);
    const host = ids.hostData(op) as Int32Array;
    const bad = host.findIndex((id) => id < 0 || id >= vocab);
    if (bad >= 0) throw invalid(op, `ids[${bad}]=${host[bad]} is outside the vocabulary 0..${vocab - 1}`);
    using onDevice = ids.to(table.device);
    return embedding(onDevice, table, opts);
  }
  return into(op, table.dtype, [...ids.shape, dim], table.device, opts.out, (y) => {
    check(native.tao_embedding(table.context.handle(op), ids.ptr(op), ids.numel, table.ptr(op), dtypeCode(table.dtype), vocab, dim, y.ptr(op)), op);
  });
}
