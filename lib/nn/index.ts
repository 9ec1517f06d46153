/** tao/nn: modules to build models from. */
export * from "./module.ts";
export * from "./linear.ts";
export * from "./sequential.ts";
