// Runs a module of the PipyJS codebase in Node, for its pure parts: imports
// become parameters, `export default` a return, Pipy's globals are stubs the
// caller passes. (test/unit/pipy-codebase.test.ts has its own copy of this.)
import assert from "node:assert/strict";
import { CODEBASE } from "../../src/controller/drivers/pipy/codebase/index.js";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import type { ProxyView } from "../../src/controller/catalog/types.js";

export type PipyModule = Record<string, (...args: unknown[]) => unknown>;

export function loadPipyModule(path: string, imports: Record<string, unknown>, globals: Record<string, unknown> = {}): PipyModule {
  const module = CODEBASE.find((m) => m.path === path);
  assert.ok(module, `${path} is in the codebase`);
  const names: string[] = [];
  const values: unknown[] = [];
  const body = module.source
    .replace(/^import (\w+) from '([^']+)'$/gm, (_m, name: string, from: string) => {
      assert.ok(from in imports, `${path} imports ${from}: pass it`);
      names.push(name);
      values.push(imports[from]);
      return "";
    })
    .replace(/^export default /m, "return ");
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const fn = new Function(...names, ...Object.keys(globals), body) as (...a: unknown[]) => PipyModule;
  return fn(...values, ...Object.values(globals));
}

/** The config.json the Pipy driver renders for `view`, parsed. */
export function renderedConfig(view: ProxyView, trustDomain = "cluster.local"): unknown {
  const f = new PipyDriver({ trustDomain }).render(view).files.find((x) => x.path === "/config.json");
  assert.ok(f, "config.json rendered");
  return JSON.parse(Buffer.from(f.content).toString("utf8"));
}
