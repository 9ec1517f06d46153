#!/usr/bin/env bun
// The `tao` command line (package.json "bin"); see lib/cli/main.ts.
import { main } from "../lib/cli/main.ts";

process.exitCode = await main(process.argv.slice(2));
