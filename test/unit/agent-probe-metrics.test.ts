/**
 * The agent's probe metrics without prom-client (issue 17: agent RSS): the
 * same calls must give byte for byte the text prom-client gave, so scrapers,
 * dashboards and docs/agent.md stay right. The reference is prom-client
 * itself (the controller's dependency), driven with the same calls.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Counter, Gauge, Registry } from "prom-client";
import { ProbeMetrics } from "../../src/agent/health/metrics.js";

/** What the agent's metrics were with prom-client (its former health/metrics.ts). */
class PromClientReference {
  readonly registry = new Registry();
  readonly results = new Counter({ name: "meshfed_agent_probe_results_total", help: "Health probe attempts by endpoint and result (success|failure)", labelNames: ["ip", "port", "result"] as const, registers: [this.registry] });
  readonly healthy = new Gauge({ name: "meshfed_agent_endpoint_healthy", help: "1 while the endpoint's probe says healthy, 0 while unhealthy; absent before the first verdict", labelNames: ["ip", "port"] as const, registers: [this.registry] });
  readonly transitions = new Counter({ name: "meshfed_agent_endpoint_health_transitions_total", help: "Health state changes by endpoint and new state", labelNames: ["ip", "port", "state"] as const, registers: [this.registry] });
  result(ip: string, port: number, ok: boolean): void {
    this.results.inc({ ip, port: String(port), result: ok ? "success" : "failure" });
  }
  state(ip: string, port: number, healthy: boolean): void {
    this.healthy.set({ ip, port: String(port) }, healthy ? 1 : 0);
    this.transitions.inc({ ip, port: String(port), state: healthy ? "healthy" : "unhealthy" });
  }
  forget(ip: string, port: number): void {
    this.healthy.remove({ ip, port: String(port) });
  }
}

type Step = readonly ["result", string, number, boolean] | readonly ["state", string, number, boolean] | readonly ["forget", string, number];

const cases: ReadonlyArray<{ name: string; steps: readonly Step[] }> = [
  { name: "nothing probed yet", steps: [] },
  {
    name: "results, states, a forgotten endpoint",
    steps: [
      ["result", "10.0.0.1", 80, true], ["result", "10.0.0.1", 80, true], ["result", "10.0.0.1", 80, false], ["result", "10.0.0.2", 81, true],
      ["state", "10.0.0.1", 80, true], ["state", "10.0.0.2", 81, false], ["state", "10.0.0.1", 80, false], ["forget", "10.0.0.2", 81],
    ],
  },
  { name: "every endpoint forgotten, one never known", steps: [["state", "10.0.0.1", 80, true], ["forget", "10.0.0.1", 80], ["forget", "10.0.0.9", 80]] },
  { name: "IPv6 and a label value that needs escaping", steps: [["result", "fd00::1", 8080, false], ["state", "fd00::1", 8080, true], ["result", 'a"b\\c\nd', 1, true]] },
];

for (const c of cases) {
  test(`probe metrics text equals prom-client's: ${c.name}`, async () => {
    const ours = new ProbeMetrics();
    const reference = new PromClientReference();
    for (const step of c.steps) {
      for (const m of [ours, reference]) {
        if (step[0] === "forget") m.forget(step[1], step[2]);
        else if (step[0] === "result") m.result(step[1], step[2], step[3]);
        else m.state(step[1], step[2], step[3]);
      }
    }
    assert.equal(await ours.text(), await reference.registry.metrics());
  });
}
