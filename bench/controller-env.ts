/** The environment the bench's controller processes run in (bench/agents.ts, bench/reconnect.ts). */
import { CONTROLLER_MALLOC_ENV } from "../src/controller/malloc-env.js";

/**
 * The controllers' environment: the shipped malloc setting (CONTROLLER_MALLOC_ENV)
 * unless MESHFED_BENCH_CONTROLLER_ENV is set, whose `K=V K=V` pairs then replace it
 * (set but empty: glibc's defaults, for the A/B). Anything else is refused rather than ignored.
 */
export function controllerEnvironment(spec: string | undefined, inherited: NodeJS.ProcessEnv = process.env): { env: NodeJS.ProcessEnv; label: string } {
  if (spec === undefined) return { env: { ...inherited, ...CONTROLLER_MALLOC_ENV }, label: "" };
  const env: NodeJS.ProcessEnv = { ...inherited };
  for (const name of Object.keys(CONTROLLER_MALLOC_ENV)) delete env[name];
  const pairs = spec.split(" ").filter((p) => p !== "");
  for (const pair of pairs) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(pair);
    if (!match) throw new Error(`MESHFED_BENCH_CONTROLLER_ENV: "${pair}" is not NAME=VALUE`);
    env[match[1]!] = match[2]!;
  }
  return { env, label: pairs.length === 0 ? " controller-env=(glibc defaults)" : ` controller-env=${pairs.join(",")}` };
}
