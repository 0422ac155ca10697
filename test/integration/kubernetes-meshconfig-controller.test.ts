// The whole controller with the MeshConfig watcher on the fake API server and
// a connected agent (the JSON driver: its file is the ProxyView): a setting
// changed through the ConfigMap or through osm-edge's MeshConfig object
// reaches the proxy's config the same way, the object wins, and deleting it
// falls back to the ConfigMap. /api/v1/providers shows where things stand.
import { test } from "node:test";
import assert from "node:assert/strict";
import { kubernetesProviderConfigSchema } from "../../src/controller/kube/index.js";
import type { ProviderStatus } from "../../src/controller/source-status.js";
import { loadCrdSchemas } from "../fakes/crd-schemas.js";
import { kubeHarness } from "../fakes/kube-api-harness.js";
import { configMap } from "../fakes/kube-api-objects.js";
import { enroll, TestStream } from "../helpers/grpc-agent.js";
import { startTestController } from "../helpers/in-process-controller.js";

const HOSTS = `hosts:
  - name: web-1
    address: 127.0.0.2
    services: [{ name: web, namespace: shop, port: 8080 }]
`;

interface View { proxy: { outboundPassthrough?: boolean }; inbound: { permissive: boolean } }

test("MeshConfig object and ConfigMap: each change reaches a connected proxy's config; the object wins; deleting it falls back", async (t) => {
  const h = await kubeHarness(t, { namespace: "meshfed-system", crdSchemas: await loadCrdSchemas() });
  const ctl = await startTestController(t, {
    hosts: HOSTS,
    patch: (c) => ({
      ...c,
      driver: "json",
      providers: { ...c.providers, kubernetes: kubernetesProviderConfigSchema.parse({ kubeconfig: h.kubeconfig, smi: false, backoff: { initial: "20ms", max: "80ms" } }) },
    }),
  });
  const ca = await ctl.api<string>("/api/v1/ca");
  const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 1 });
  const { keyPem, response } = await enroll(ctl.grpcAddress, ca, token);
  const stream = new TestStream(ctl.grpcAddress, ca, keyPem, response.certificatePem);
  t.after(() => stream.close());
  stream.hello(response.proxyId, ["127.0.0.2"], [{ ip: "127.0.0.2", port: 8080 }]);

  /** The next config after message `from` whose view matches; returns it and where the search may continue. */
  const nextView = async (from: number, match: (v: View) => boolean, what: string): Promise<number> => {
    const m = await stream.next((msg) => msg.message === "config" && match((JSON.parse(Buffer.from(msg.config!.files[0]!.content).toString("utf8")) as { view: View }).view), 10_000, from).catch((err: unknown) => {
      throw new Error(`${what}: ${(err as Error).message}`);
    });
    return stream.messages.indexOf(m) + 1;
  };
  const meshConfigRow = async () => (await ctl.api<ProviderStatus[]>("/api/v1/providers")).find((p) => p.id === "meshconfig-kubernetes");

  let at = await nextView(0, (v) => !v.inbound.permissive && v.proxy.outboundPassthrough !== false, "the first config: the file's settings");
  assert.equal((await meshConfigRow())?.counts.customResourceMissing, 0, "the CRD is served");

  h.api.apply("configmaps", configMap("meshfed-system", "meshfed-config", { "mesh.permissive": "true" }));
  at = await nextView(at, (v) => v.inbound.permissive, "the ConfigMap's permissive mode");

  h.api.apply("meshconfigs.config.openservicemesh.io", {
    apiVersion: "config.openservicemesh.io/v1alpha2", kind: "MeshConfig", metadata: { name: "osm-mesh-config", namespace: "meshfed-system" },
    spec: { traffic: { enablePermissiveTrafficPolicyMode: false, enableEgress: false } },
  });
  at = await nextView(at, (v) => !v.inbound.permissive && v.proxy.outboundPassthrough === false, "the MeshConfig object over the ConfigMap");
  const row = await meshConfigRow();
  assert.deepEqual([row?.state, row?.counts.customResourcePresent, row?.counts.overridden, row?.counts.permissive], ["synced", 1, 1, 0]);

  h.api.remove("meshconfigs.config.openservicemesh.io", "meshfed-system", "osm-mesh-config");
  await nextView(at, (v) => v.inbound.permissive && v.proxy.outboundPassthrough !== false, "back to the ConfigMap once the object is deleted");
  assert.equal((await meshConfigRow())?.counts.customResourcePresent, 0);
});
