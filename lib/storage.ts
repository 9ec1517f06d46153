/** Where a tensor's bytes live: a host TypedArray, or memory from a device context's allocator. */
import * as C from "./native/constants.ts";
import { native } from "./native/index.ts";
import { ErrorCode, TaoError } from "./errors.ts";
import { hostArrayType, type DType, type HostArray } from "./dtypes.ts";
import { NativeResource } from "./resource.ts";
import type { Context } from "./context.ts";

/** Host storage: the TypedArray is used in place; dispose drops the reference. */
export class HostStorage {
  #data: HostArray | null;

  constructor(data: HostArray) {
    this.#data = data;
  }

  /** A new zeroed array of `numel` elements; an impossible size is a TaoError OUT_OF_MEMORY. */
  static allocate(dtype: DType, numel: number, op: string): HostStorage {
    try {
      return new HostStorage(new (hostArrayType(dtype))(numel));
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      throw new TaoError(ErrorCode.OUT_OF_MEMORY, op, `cannot allocate ${numel} ${dtype} elements on the host (${e.message})`);
    }
  }

  get data(): HostArray | null {
    return this.#data;
  }

  get disposed(): boolean {
    return this.#data === null;
  }

  dispose(): void {
    this.#data = null;
  }
}

/** Device storage: `bytes` at `address` from `context.alloc`, freed on dispose (or by the GC). */
export class DeviceStorage extends NativeResource {
  private constructor(readonly context: Context, readonly address: bigint, readonly bytes: number) {
    // Memory of a context that was disposed first went with it; freeing it again would be invalid.
    super("Tensor.dispose", () => context.disposed ? C.TAO_OK : native.tao_free(context.handle("Tensor.dispose"), address));
  }

  /** Allocates `bytes` on the context's device (none for 0 bytes: the address is then 0). */
  static allocate(context: Context, bytes: number, op: string): DeviceStorage {
    return new DeviceStorage(context, bytes === 0 ? 0n : context.alloc(bytes, op), bytes);
  }
}

export type Storage = HostStorage | DeviceStorage;
