/**
 * The one symbol table of libtao.so: every function of include/tao.h with its argument and result
 * types in neutral names. The Bun and Deno adapters translate it; test/symbols.test.ts checks it
 * against the header so the two cannot drift.
 *
 * Types: "i32" int32_t / tao_status, "u64" uint64_t, "f64" double, "ptr" any pointer (host
 * TypedArray, device address as bigint, or null), "cstring" a returned `const char*` read as a string.
 */
export const symbols = {
  tao_last_error: { args: [], result: "cstring" },
  tao_version: { args: [], result: "cstring" },
  tao_noop: { args: [], result: "i32" },
  tao_capabilities: { args: ["ptr", "u64", "ptr"], result: "i32" },
  tao_cuda_device_count: { args: ["ptr"], result: "i32" },
  tao_set_cpu_threads: { args: ["i32"], result: "i32" },
  tao_dtype_size: { args: ["i32", "ptr"], result: "i32" },

  tao_ctx_create: { args: ["i32", "ptr"], result: "i32" },
  tao_ctx_destroy: { args: ["ptr"], result: "i32" },
  tao_ctx_device: { args: ["ptr", "ptr"], result: "i32" },
  tao_ctx_synchronize: { args: ["ptr"], result: "i32" },
  tao_ctx_memory: { args: ["ptr", "ptr", "ptr", "i32"], result: "i32" },
  tao_ctx_init_mathlibs: { args: ["ptr", "i32"], result: "i32" },

  tao_alloc: { args: ["ptr", "u64", "ptr"], result: "i32" },
  tao_free: { args: ["ptr", "ptr"], result: "i32" },
  tao_copy: { args: ["ptr", "ptr", "ptr", "u64", "i32"], result: "i32" },
  tao_memset: { args: ["ptr", "ptr", "i32", "u64"], result: "i32" },
  tao_read: { args: ["ptr", "ptr", "u64"], result: "i32" },

  tao_event_create: { args: ["ptr", "ptr"], result: "i32" },
  tao_event_record: { args: ["ptr", "ptr"], result: "i32" },
  tao_event_elapsed_ms: { args: ["ptr", "ptr", "ptr"], result: "i32" },
  tao_event_destroy: { args: ["ptr"], result: "i32" },

  tao_graph_begin: { args: ["ptr"], result: "i32" },
  tao_graph_end: { args: ["ptr", "ptr"], result: "i32" },
  tao_graph_launch: { args: ["ptr", "ptr"], result: "i32" },
  tao_graph_destroy: { args: ["ptr"], result: "i32" },

  tao_cast: { args: ["ptr", "ptr", "i32", "ptr", "i32", "u64"], result: "i32" },
  tao_fill: { args: ["ptr", "ptr", "i32", "u64", "f64"], result: "i32" },
  tao_fill_random: {
    args: ["ptr", "ptr", "i32", "u64", "u64", "u64", "i32", "f64", "f64"],
    result: "i32",
  },
  tao_strided_copy: { args: ["ptr", "ptr", "ptr", "i32", "i32", "ptr", "ptr"], result: "i32" },
  tao_linear: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "i32", "u64", "u64", "u64"], result: "i32" }, // int64_t m, n, k (never negative) as u64

  tao_pack_int4_tensor_core_tiled: { args: ["ptr", "ptr", "ptr", "u64", "u64", "i32"], result: "i32" },
  tao_unpack_int4_tensor_core_tiled: { args: ["ptr", "ptr", "ptr", "u64", "u64", "i32"], result: "i32" },
  tao_dequantize_int4_tensor_core_tiled: { args: ["ptr", "ptr", "ptr", "ptr", "u64", "u64", "i32", "i32"], result: "i32" },
  tao_linear_int4_tensor_core_tiled: {
    args: ["ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "i32", "u64", "u64", "u64", "i32", "i32"],
    result: "i32",
  },
  tao_quantize_f8: { args: ["ptr", "ptr", "i32", "ptr", "ptr", "u64", "u64", "i32"], result: "i32" },
  tao_linear_f8_f8: {
    args: ["ptr", "ptr", "ptr", "i32", "ptr", "ptr", "i32", "ptr", "ptr", "i32", "u64", "u64", "u64", "i32"],
    result: "i32",
  },
  tao_linear_int8_weight_only: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "i32", "u64", "u64", "u64"], result: "i32" },
  tao_quantize_rows_int8: { args: ["ptr", "ptr", "i32", "ptr", "ptr", "ptr", "u64", "u64"], result: "i32" },
  tao_linear_int8_int8: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "i32", "u64", "u64", "u64"], result: "i32" },

  tao_sparse24_mask: { args: ["ptr", "ptr", "i32", "ptr", "ptr", "u64", "u64"], result: "i32" },
  tao_apply_mask: { args: ["ptr", "ptr", "i32", "ptr", "u64"], result: "i32" },
  tao_column_sq_sum: { args: ["ptr", "ptr", "i32", "ptr", "u64", "u64"], result: "i32" },
  tao_sparse24_compress: { args: ["ptr", "ptr", "i32", "ptr", "ptr", "u64", "u64"], result: "i32" },
  tao_sparse24_decompress: { args: ["ptr", "ptr", "ptr", "i32", "ptr", "u64", "u64"], result: "i32" },
  tao_linear_sparse24: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "i32", "u64", "u64", "u64"], result: "i32" },
  tao_cusparselt_packed_size: { args: ["ptr", "i32", "u64", "u64", "ptr"], result: "i32" },
  tao_cusparselt_pack: { args: ["ptr", "ptr", "ptr", "i32", "u64", "u64", "ptr"], result: "i32" },
  tao_linear_cusparselt: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "i32", "u64", "u64", "u64"], result: "i32" },
  tao_linear_int8_cusparselt: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "i32", "u64", "u64", "u64"], result: "i32" },

  tao_affine_args_size: { args: ["ptr"], result: "i32" },
  tao_choose_qparams_affine: { args: ["ptr", "ptr"], result: "i32" },
  tao_quantize_affine: { args: ["ptr", "ptr"], result: "i32" },
  tao_dequantize_affine: { args: ["ptr", "ptr"], result: "i32" },
  tao_fake_quantize_affine: { args: ["ptr", "ptr"], result: "i32" },

  tao_embedding: { args: ["ptr", "ptr", "u64", "ptr", "i32", "u64", "u64", "ptr"], result: "i32" },
  tao_rms_norm: { args: ["ptr", "ptr", "ptr", "ptr", "i32", "u64", "u64", "f64"], result: "i32" },
  tao_rope: { args: ["ptr", "ptr", "ptr", "i32", "u64", "u64", "u64", "u64", "u64", "ptr", "ptr", "u64", "f64", "i32"], result: "i32" },
  tao_attention_args_size: { args: ["ptr"], result: "i32" },
  tao_attention: { args: ["ptr", "ptr"], result: "i32" },
  tao_kv_append: {
    args: ["ptr", "ptr", "ptr", "ptr", "ptr", "i32", "u64", "u64", "u64", "u64", "u64", "u64", "ptr", "u64"],
    result: "i32",
  },
  tao_increment_i32: { args: ["ptr", "ptr", "u64", "i32"], result: "i32" },
  tao_binary: { args: ["ptr", "i32", "ptr", "ptr", "ptr", "i32", "u64"], result: "i32" },
  tao_binary_rows: { args: ["ptr", "i32", "ptr", "ptr", "ptr", "i32", "u64", "u64", "u64", "u64", "u64"], result: "i32" },
  tao_argmax: { args: ["ptr", "ptr", "i32", "u64", "u64", "ptr"], result: "i32" },
  tao_sample: { args: ["ptr", "ptr", "i32", "u64", "u64", "f64", "i32", "u64", "ptr", "ptr"], result: "i32" },
  tao_nf4_quantize: { args: ["ptr", "ptr", "i32", "u64", "u64", "ptr", "ptr"], result: "i32" },
  tao_nf4_pack: { args: ["ptr", "ptr", "ptr", "u64", "u64", "ptr", "ptr", "ptr", "ptr"], result: "i32" },
  tao_nf4_unpack: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "u64", "u64", "ptr", "ptr"], result: "i32" },
  tao_dequantize_nf4: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "u64", "u64", "ptr", "i32"], result: "i32" },
  tao_linear_nf4: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "i32", "u64", "u64", "u64"], result: "i32" },
  tao_uintx_pack: { args: ["ptr", "ptr", "u64", "u64", "i32", "ptr"], result: "i32" },
  tao_uintx_unpack: { args: ["ptr", "ptr", "u64", "u64", "i32", "ptr"], result: "i32" },
  tao_dequantize_uintx: { args: ["ptr", "ptr", "ptr", "ptr", "u64", "u64", "i32", "i32", "i32", "ptr", "i32"], result: "i32" },
  tao_linear_uintx: {
    args: ["ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "i32", "u64", "u64", "u64", "i32", "i32", "i32"],
    result: "i32",
  },
  tao_gptq_hessian: { args: ["ptr", "ptr", "i32", "u64", "u64", "ptr", "f64", "f64"], result: "i32" },
  tao_gptq_factor: { args: ["ptr", "ptr", "u64", "f64", "i32", "ptr", "ptr", "ptr"], result: "i32" },
  tao_gptq_args_size: { args: ["ptr"], result: "i32" },
  tao_gptq_quantize: { args: ["ptr", "ptr"], result: "i32" },
} as const satisfies Record<string, { args: readonly ArgType[]; result: ResultType }>;

export type Symbols = typeof symbols;
export type SymbolName = keyof Symbols;
export type ArgType = "i32" | "u64" | "f64" | "ptr";
export type ResultType = "i32" | "cstring";

/** A pointer argument: a host TypedArray (zero-copy; an empty one is passed as null), a native
 * address as bigint (device memory, handles), or null. */
export type PtrArg = ArrayBufferView | bigint | null;

type JsArg<T> = T extends "ptr" ? PtrArg : T extends "u64" ? number | bigint : number;
type JsResult<T> = T extends "cstring" ? string : number;
type JsArgs<A extends readonly ArgType[]> = { -readonly [I in keyof A]: JsArg<A[I]> };

/** The callable form of the table, identical on Bun and Deno. */
export type NativeFunctions = {
  [K in SymbolName]: (...args: JsArgs<Symbols[K]["args"]>) => JsResult<Symbols[K]["result"]>;
};

/** What a runtime adapter (bun.ts, deno.ts) provides. */
export interface Adapter {
  /** Opens the library at `path` and binds every symbol of the table. */
  open(path: string): NativeFunctions;
  /** Native address of a non-empty host TypedArray's first byte (for params structs). */
  addressOf(view: ArrayBufferView): bigint;
  /** Reads an environment variable (undefined when unset). */
  env(name: string): string | undefined;
}
