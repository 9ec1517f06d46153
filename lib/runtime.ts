/** Library-wide queries and settings: capabilities, CUDA device count, version, CPU threads. */
import { native } from "./native/index.ts";
import { check } from "./errors.ts";

export interface CudaDevice {
  index: number;
  name: string;
  sm: number;
  memory_bytes: number;
  multiprocessors: number;
  l2_bytes: number;
}

export interface LibraryCapability {
  compiled: boolean;
  available: boolean;
  version: string | number | null;
  error: string;
}

/** The capability report of tao_capabilities (keys as the C side writes them). */
export interface Capabilities {
  version: string;
  cpu: { features: string[]; threads: number };
  cuda: {
    compiled: boolean;
    runtime_version: number;
    driver_version: number;
    error: string;
    devices: CudaDevice[];
  };
  cublaslt: LibraryCapability;
  cusparselt: LibraryCapability;
}

/** What this build and machine can do (asks for the size with cap = 0, then reads the JSON). */
export function capabilities(): Capabilities {
  const needed = new BigUint64Array(1);
  check(native.tao_capabilities(null, 0, needed), "capabilities");
  const buf = new Uint8Array(Number(needed[0]));
  check(native.tao_capabilities(buf, buf.length, needed), "capabilities");
  const end = buf.indexOf(0);
  return JSON.parse(new TextDecoder().decode(end < 0 ? buf : buf.subarray(0, end))) as Capabilities;
}

/** Number of usable CUDA devices (0 without a CUDA build, GPU or driver). */
export function cudaDeviceCount(): number {
  const out = new Int32Array(1);
  check(native.tao_cuda_device_count(out), "cudaDeviceCount");
  return out[0]!;
}

/** Library version, "MAJOR.MINOR.PATCH". */
export function version(): string {
  return native.tao_version();
}

/** Sets the number of threads of CPU kernels (0 = all cores). */
export function setCpuThreads(n: number): void {
  check(native.tao_set_cpu_threads(n), "setCpuThreads");
}
