// Runs the pure parts of our PipyJS modules in Node: imports become
// parameters, `export default` a return, Pipy's globals are stubs given by
// the caller. Only module top level and the functions a test calls run, so
// pipeline-building code ($=>$ ...) is never evaluated.
import assert from "node:assert/strict";
import { CODEBASE } from "../../src/controller/drivers/pipy/codebase/index.js";
import { PipyDriver, type PipyDriverOptions } from "../../src/controller/drivers/pipy/pipy-driver.js";
import type { ProxyView } from "../../src/controller/catalog/types.js";
import { canonicalJson } from "../../src/controller/drivers/config-hash.js";

export type PipyModule = Record<string, (...args: unknown[]) => unknown>;

export function loadPipyModule(path: string, imports: Record<string, unknown>, globals: Record<string, unknown> = {}): PipyModule {
  const source = CODEBASE.find((m) => m.path === path)?.source;
  assert.ok(source !== undefined, `${path} is in the codebase`);
  const names: string[] = [];
  const values: unknown[] = [];
  const body = source
    .replace(/^import (\w+) from '([^']+)'$/gm, (_m, name: string, from: string) => {
      assert.ok(from in imports, `${path} imports ${from}: give it`);
      names.push(name);
      values.push(imports[from]);
      return "";
    })
    .replace(/^export default /m, "return ");
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const fn = new Function(...names, ...Object.keys(globals), body) as (...a: unknown[]) => PipyModule;
  return fn(...values, ...Object.values(globals));
}

/**
 * The config the scripts run on for a proxy's files: /config.js itself, run
 * over /config.json and the /view.json it names (Pipy's `pipy.load` and
 * `JSON.decode` stubbed). null when config.js would refuse them.
 */
export function effectiveConfig(files: readonly { path: string; content: Uint8Array }[]): unknown {
  const load = (path: string): string | null => {
    const f = files.find((x) => x.path === `/${path}`);
    return f === undefined ? null : Buffer.from(f.content).toString("utf8");
  };
  return loadPipyModule("/config.js", {}, { pipy: { load }, JSON: { decode: (s: string) => JSON.parse(s) as unknown } });
}

/**
 * The merged config as canonical JSON, the bytes the single config.json had
 * before the split into config.json + view.json: what the goldens hold.
 */
export function effectiveConfigJson(files: readonly { path: string; content: Uint8Array }[]): string {
  const config = effectiveConfig(files);
  assert.ok(config !== null, "config.json and view.json accepted by /config.js");
  return `${canonicalJson(config)}\n`;
}

/** The config the driver renders for a view (config.json and view.json merged by /config.js), parsed. */
export function renderedConfig(view: ProxyView, options: Partial<PipyDriverOptions> = {}): unknown {
  const config = effectiveConfig(new PipyDriver({ trustDomain: "cluster.local", ...options }).render(view).files);
  assert.ok(config !== null, "config.json and view.json rendered and accepted by /config.js");
  return config;
}

/**
 * A stand-in for Pipy's algo.LoadBalancer (round-robin): smooth weighted
 * round-robin over the targets, `weight` an optional function of a target,
 * `schedule(n, validator)` skips targets the validator refuses.
 */
export class FakeLoadBalancer<T> {
  readonly #targets: { target: T; weight: number; current: number }[];
  constructor(targets: readonly T[], options: { weight?: (t: T) => number } = {}) {
    this.#targets = targets.map((target) => ({ target, weight: options.weight ? options.weight(target) : 1, current: 0 }));
  }
  schedule(size: number, validator?: (t: T) => boolean): (T | undefined)[] {
    const out: (T | undefined)[] = [];
    for (let i = 0; i < size; i++) {
      const live = this.#targets.filter((x) => x.weight > 0 && (!validator || validator(x.target)));
      if (live.length === 0) { out.push(undefined); continue; }
      const total = live.reduce((n, x) => n + x.weight, 0);
      for (const x of live) x.current += x.weight;
      const best = live.reduce((a, b) => (b.current > a.current ? b : a));
      best.current -= total;
      out.push(best.target);
    }
    return out;
  }
}

export const fakeAlgo = { LoadBalancer: FakeLoadBalancer };
