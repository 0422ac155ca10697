/**
 * The agent's probe metrics (docs/agent.md, "Health probes"), in a registry
 * of its own: the agent serves it at GET /metrics on its loopback repo
 * address. Labels are the endpoint's ip and port: a host has a handful.
 */
import { Counter, Gauge, Registry } from "prom-client";

export class ProbeMetrics {
  readonly registry = new Registry();
  readonly #results = new Counter({
    name: "meshfed_agent_probe_results_total", help: "Health probe attempts by endpoint and result (success|failure)",
    labelNames: ["ip", "port", "result"] as const, registers: [this.registry],
  });
  readonly #healthy = new Gauge({
    name: "meshfed_agent_endpoint_healthy", help: "1 while the endpoint's probe says healthy, 0 while unhealthy; absent before the first verdict",
    labelNames: ["ip", "port"] as const, registers: [this.registry],
  });
  readonly #transitions = new Counter({
    name: "meshfed_agent_endpoint_health_transitions_total", help: "Health state changes by endpoint and new state",
    labelNames: ["ip", "port", "state"] as const, registers: [this.registry],
  });

  result(ip: string, port: number, ok: boolean): void {
    this.#results.inc({ ip, port: String(port), result: ok ? "success" : "failure" });
  }

  state(ip: string, port: number, healthy: boolean): void {
    this.#healthy.set({ ip, port: String(port) }, healthy ? 1 : 0);
    this.#transitions.inc({ ip, port: String(port), state: healthy ? "healthy" : "unhealthy" });
  }

  /** The endpoint is no longer probed: its gauge goes (counters keep their totals). */
  forget(ip: string, port: number): void {
    this.#healthy.remove({ ip, port: String(port) });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
