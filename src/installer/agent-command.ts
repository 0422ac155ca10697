/**
 * The command line an installed agent runs with, for every service manager.
 *
 * The Node flags trade a little of the agent's JS speed for memory
 * (docs/benchmarks.md, issue 17, "the agent's RSS"): a 1 MiB young
 * generation instead of V8's default (a config push is ~20 KB, so the extra
 * scavenges are negligible) and a heap that grows less eagerly. Measured on
 * the connected agent beside the plain bundle in every `npm run bench` agents
 * run. `--no-opt --no-sparkplug` would save more but keep every hot path
 * (protobuf decoding, the local repo, mesh DNS) in the interpreter: not set.
 */
import type { AgentLayout } from "./layout.js";

export const AGENT_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=1", "--optimize-for-size"];

/** `node FLAGS <bundle> agent --config <agent.yaml>`, unquoted words. */
export function agentCommand(layout: Pick<AgentLayout, "script" | "config">, node: string): string[] {
  return [node, ...AGENT_NODE_FLAGS, layout.script, "agent", "--config", layout.config];
}
