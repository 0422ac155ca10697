// The dashboards in config/grafana must only query metrics meshfed really
// exports: the controller's registry (with Node's default metrics, as the
// controller registers them) and the sidecar's PipyJS metrics module.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ControllerMetrics } from "../../src/common/metrics.js";
import { METRICS_JS } from "../../src/controller/drivers/pipy/codebase/metrics-js.js";

const DIR = join(import.meta.dirname, "..", "..", "..", "config", "grafana");

interface Panel { id: number; title: string; datasource?: { uid: string }; targets?: Array<{ expr: string; datasource?: { uid: string } }>; panels?: Panel[] }
interface Dashboard { uid: string; title: string; panels: Panel[]; templating: { list: Array<{ name: string; type: string }> } }

const dashboards = readdirSync(DIR).filter((f) => f.endsWith(".json")).map((f) => ({ file: f, json: JSON.parse(readFileSync(join(DIR, f), "utf8")) as Dashboard }));

async function exported(): Promise<Set<string>> {
  const controller = new ControllerMetrics({ defaultMetrics: true });
  const names = new Set((await controller.registry.getMetricsAsJSON()).map((m) => m.name));
  for (const m of METRICS_JS.matchAll(/new stats\.(?:Counter|Gauge|Histogram)\(\s*'([a-z_:][a-z0-9_:]*)'/g)) names.add(m[1]!);
  return names;
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
