/**
 * The agent's probe metrics (docs/agent.md, "Health probes"): the agent
 * serves them at GET /metrics on its loopback repo address. Labels are the
 * endpoint's ip and port: a host has a handful.
 *
 * Written here in the Prometheus text format rather than with prom-client:
 * three families of a few series need no client library, and prom-client
 * (with @opentelemetry/api behind it) was ~6 MiB of every agent's RSS
 * (issue 17: agent RSS). The text is byte for byte what prom-client wrote
 * for the same calls (test/unit/agent-probe-metrics.test.ts).
 */

type Labels = Readonly<Record<string, string>>;

/** Label values escaped as the text format requires (backslash, double quote, newline). */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** One metric family: series by label values, in the order they first appeared. */
class Family {
  readonly #series = new Map<string, { labels: Labels; value: number }>();

  constructor(readonly name: string, readonly help: string, readonly type: "counter" | "gauge", readonly labelNames: readonly string[]) {}

  #key(labels: Labels): string {
    return JSON.stringify(this.labelNames.map((n) => labels[n] ?? ""));
  }

  add(labels: Labels, by: number): void {
    const key = this.#key(labels);
    const s = this.#series.get(key);
    if (s) s.value += by;
    else this.#series.set(key, { labels, value: by });
  }

  set(labels: Labels, value: number): void {
    const key = this.#key(labels);
    const s = this.#series.get(key);
    if (s) s.value = value;
    else this.#series.set(key, { labels, value });
  }

  remove(labels: Labels): void {
    this.#series.delete(this.#key(labels));
  }

  text(): string {
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    for (const { labels, value } of this.#series.values()) {
      const pairs = this.labelNames.map((n) => `${n}="${escapeLabel(labels[n] ?? "")}"`).join(",");
      out += `${this.name}{${pairs}} ${value}\n`;
    }
    return out;
  }
}

export class ProbeMetrics {
  readonly #results = new Family("meshfed_agent_probe_results_total", "Health probe attempts by endpoint and result (success|failure)", "counter", ["ip", "port", "result"]);
  readonly #healthy = new Family("meshfed_agent_endpoint_healthy", "1 while the endpoint's probe says healthy, 0 while unhealthy; absent before the first verdict", "gauge", ["ip", "port"]);
  readonly #transitions = new Family("meshfed_agent_endpoint_health_transitions_total", "Health state changes by endpoint and new state", "counter", ["ip", "port", "state"]);

  result(ip: string, port: number, ok: boolean): void {
    this.#results.add({ ip, port: String(port), result: ok ? "success" : "failure" }, 1);
  }

  state(ip: string, port: number, healthy: boolean): void {
    this.#healthy.set({ ip, port: String(port) }, healthy ? 1 : 0);
    this.#transitions.add({ ip, port: String(port), state: healthy ? "healthy" : "unhealthy" }, 1);
  }

  /** The endpoint is no longer probed: its gauge goes (counters keep their totals). */
  forget(ip: string, port: number): void {
    this.#healthy.remove({ ip, port: String(port) });
  }

  /** The exposition text (Prometheus text format 0.0.4), families separated by a blank line as prom-client wrote them. */
  text(): Promise<string> {
    return Promise.resolve([this.#results, this.#healthy, this.#transitions].map((f) => f.text()).join("\n"));
  }
}
