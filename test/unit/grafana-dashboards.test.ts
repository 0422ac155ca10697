// The dashboards in config/grafana must only query metrics meshfed really
// exports: the controller's registry (with Node's default metrics, as the
// controller registers them) and the sidecar's PipyJS codebase. The
// sidecar's metrics are read by running each codebase module's top level in
// Node against a stand-in for Pipy's `stats` (names and label names as the
// scripts declare them, nothing typed twice); a query must also use only
// labels that its sidecar metrics have.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ControllerMetrics } from "../../src/common/metrics.js";
import { CODEBASE } from "../../src/controller/drivers/pipy/codebase/index.js";

const DIR = join(import.meta.dirname, "..", "..", "..", "config", "grafana");

interface Panel { id: number; title: string; datasource?: { uid: string }; targets?: Array<{ expr: string; datasource?: { uid: string } }>; panels?: Panel[] }
interface Variable { name: string; type: string; query?: string | { query: string } }
interface Dashboard { uid: string; title: string; panels: Panel[]; templating: { list: Variable[] } }

const dashboards = readdirSync(DIR).filter((f) => f.endsWith(".json")).map((f) => ({ file: f, json: JSON.parse(readFileSync(join(DIR, f), "utf8")) as Dashboard }));

interface SidecarMetric { type: "counter" | "gauge" | "histogram"; labels: readonly string[] }

/**
 * Every metric the sidecar codebase declares: each module that makes one is
 * evaluated with its imports stubbed (null config: a sidecar before its first
 * config declares the same metrics) and `stats` recording the declarations.
 */
function sidecarMetrics(): Map<string, SidecarMetric> {
  const found = new Map<string, SidecarMetric>();
  const declare = (type: SidecarMetric["type"]) => function (this: unknown, name: string, a?: unknown, b?: unknown) {
    const labels = (type === "histogram" ? b : a) ?? [];
    assert.ok(Array.isArray(labels), `${name}: labels are a list`);
    assert.ok(!found.has(name), `${name} is declared twice`);
    found.set(name, { type, labels: labels as string[] });
    const bound = { increase() {}, decrease() {}, set() {}, observe() {}, zero() {} };
    return { ...bound, withLabels: () => bound };
  };
  const stats = { Counter: declare("counter"), Gauge: declare("gauge"), Histogram: declare("histogram") };
  for (const m of CODEBASE.filter((x) => /new stats\./.test(x.source))) {
    const names: string[] = [];
    const body = m.source
      .replace(/^import (\w+) from '[^']+'$/gm, (_all, name: string) => { names.push(name); return ""; })
      .replace(/^export default /m, "return ");
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const run = new Function(...names, "stats", "pipy", body) as (...args: unknown[]) => unknown;
    run(...names.map(() => null), stats, { load: () => null });
  }
  return found;
}

const SIDECAR = sidecarMetrics();

async function exported(): Promise<Set<string>> {
  const controller = new ControllerMetrics({ defaultMetrics: true });
  const names = new Set((await controller.registry.getMetricsAsJSON()).map((m) => m.name));
  for (const name of SIDECAR.keys()) names.add(name);
  return names;
}

/** Label names a query uses on sidecar metrics: selectors per metric, and `by (...)` groupings. */
function labelProblems(expr: string): string[] {
  const problems: string[] = [];
  const used = new Set<string>();
  for (const m of expr.matchAll(/\b(meshfed_[a-z0-9_:]*)(?:\{([^}]*)\})?/g)) {
    const series = m[1]!;
    const name = series.replace(/_(bucket|sum|count)$/, "");
    const metric = SIDECAR.get(name) ?? SIDECAR.get(series);
    if (metric === undefined) continue;
    used.add(name);
    const allowed = new Set([...metric.labels, ...(series.endsWith("_bucket") ? ["le"] : [])]);
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
      if (!allowed.has(l[1]!)) problems.push(`${series} has no label ${l[1]!}`);
    }
  }
  for (const by of expr.matchAll(/\bby \(([^)]*)\)/g)) {
    for (const label of by[1]!.split(",").map((x) => x.trim()).filter((x) => x !== "" && x !== "le")) {
      for (const name of used) if (!SIDECAR.get(name)!.labels.includes(label)) problems.push(`${name} has no label ${label} (by)`);
    }
  }
  return problems;
}

/** Metric names in a PromQL expression (ours and Node's standard ones), histogram series folded to their metric. */
function metricsIn(expr: string): string[] {
  const names = expr.match(/\b(?:meshfed|process|nodejs)_[a-z0-9_:]*/g) ?? [];
  return names.map((n) => n.replace(/_(bucket|sum|count)$/, ""));
}

test("there are the four dashboards the operations guide names, each with a unique uid and a Prometheus datasource variable", () => {
  assert.deepEqual(dashboards.map((d) => d.json.uid).sort(), ["meshfed-control-plane", "meshfed-fleet", "meshfed-overview", "meshfed-service-traffic"]);
  for (const { file, json } of dashboards) {
    assert.ok(json.templating.list.some((v) => v.type === "datasource" && v.name === "datasource"), `${file}: datasource variable`);
    for (const p of json.panels) {
      assert.equal(p.datasource?.uid, "${datasource}", `${file}: panel "${p.title}" uses the variable`);
      assert.ok((p.targets ?? []).length > 0, `${file}: panel "${p.title}" has a query`);
    }
  }
});

test("every query names only metrics meshfed exports", async () => {
  const names = await exported();
  // The check itself must be able to fail: a name that is not exported is caught.
  assert.deepEqual(metricsIn("rate(meshfed_no_such_metric_total[5m])").filter((n) => !names.has(n)), ["meshfed_no_such_metric_total"]);
  let queries = 0;
  for (const { file, json } of dashboards) {
    for (const p of json.panels) {
      for (const target of p.targets ?? []) {
        queries += 1;
        const found = metricsIn(target.expr);
        assert.ok(found.length > 0, `${file}: "${p.title}" queries no meshfed metric: ${target.expr}`);
        for (const name of found) assert.ok(names.has(name), `${file}: "${p.title}" queries ${name}, which nothing exports`);
      }
    }
  }
  assert.ok(queries >= 30, `${queries} queries checked`);
});

test("the sidecar's metrics are read from the codebase: SMI-style labels, a seconds histogram, no millisecond one", () => {
  const peers = ["direction", "source_namespace", "source_service", "source_identity", "destination_namespace", "destination_service", "destination_identity"];
  assert.deepEqual(SIDECAR.get("meshfed_sidecar_requests_total"), { type: "counter", labels: [...peers, "response_code"] });
  assert.deepEqual(SIDECAR.get("meshfed_sidecar_request_duration_seconds"), { type: "histogram", labels: peers });
  for (const n of ["meshfed_sidecar_tcp_connections_total", "meshfed_sidecar_tcp_received_bytes_total", "meshfed_sidecar_tcp_sent_bytes_total"]) assert.deepEqual(SIDECAR.get(n), { type: "counter", labels: peers }, n);
  assert.deepEqual([...SIDECAR.keys()].filter((n) => /_ms(_|$)/.test(n)), [], "latency is in seconds");
});

test("queries use only labels their sidecar metrics have; dashboard variables query exported metrics", async () => {
  // The check can fail: a label the metric lacks, in a selector or a by clause.
  assert.deepEqual(labelProblems('sum by (service) (rate(meshfed_sidecar_requests_total{status="200"}[5m]))'), [
    "meshfed_sidecar_requests_total has no label status", "meshfed_sidecar_requests_total has no label service (by)",
  ]);
  assert.deepEqual(labelProblems('histogram_quantile(0.5, sum by (destination_service, le) (rate(meshfed_sidecar_request_duration_seconds_bucket{direction="inbound"}[5m])))'), []);
  const names = await exported();
  let checked = 0;
  for (const { file, json } of dashboards) {
    for (const p of json.panels) {
      for (const target of p.targets ?? []) {
        assert.deepEqual(labelProblems(target.expr), [], `${file}: "${p.title}": ${target.expr}`);
        checked += SIDECAR.has(metricsIn(target.expr)[0] ?? "") ? 1 : 0;
      }
    }
    for (const v of json.templating.list.filter((x) => x.type === "query")) {
      const query = typeof v.query === "string" ? v.query : v.query?.query ?? "";
      const found = metricsIn(query);
      assert.ok(found.length > 0 && found.every((n) => names.has(n)), `${file}: variable ${v.name} queries ${query}`);
      const label = /label_values\([^,]+,\s*([a-z_]+)\)/.exec(query)?.[1];
      if (label !== undefined) assert.ok(found.every((n) => !SIDECAR.has(n) || SIDECAR.get(n)!.labels.includes(label)), `${file}: variable ${v.name}: ${label}`);
    }
  }
  assert.ok(checked >= 8, `${checked} queries on sidecar metrics checked`);
});
