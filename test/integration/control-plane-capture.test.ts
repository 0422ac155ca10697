// The controller's side of capture (docs/dataplane.md "Capture"): the mode an
// agent announces in Hello shapes its ProxyView (proxy.capture), and the rule
// state it reports in Hello and Health shows in GET /api/v1/proxies. An agent
// that sends no capture status (older agents) stays in explicit mode.
import { test } from "node:test";
import assert from "node:assert/strict";
import { enroll, TestStream } from "../helpers/grpc-agent.js";
import { startTestController } from "../helpers/in-process-controller.js";
import type { ControllerConfig } from "../../src/controller/config/schema.js";
import { waitFor } from "../helpers/wait.js";

const HOSTS = `hosts:
  - name: web-1
    address: 127.0.0.2
    services: [{ name: web, namespace: shop, port: 8080 }]
`;

type ProxyRow = { proxyId: string; capture: { mode: string; installed: boolean; outboundActive: boolean; errorCode: string; error: string; at: string } | null };

test("capture: Hello's mode reaches the proxy view, Hello and Health's rule state reach GET /api/v1/proxies", async (t) => {
  const ctl = await startTestController(t, { hosts: HOSTS, patch: (c: ControllerConfig) => ({ ...c, driver: "json" }) });
  const ca = await ctl.api<string>("/api/v1/ca");
  const connect = async (capture: unknown) => {
    const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 1 });
    const { keyPem, response } = await enroll(ctl.grpcAddress, ca, token);
    const stream = new TestStream(ctl.grpcAddress, ca, keyPem, response.certificatePem);
    t.after(() => stream.close());
    stream.send({ hello: { proxyId: response.proxyId, hostAddresses: ["127.0.0.2"], endpoints: [{ ip: "127.0.0.2", port: 8080 }], agentVersion: "test", proxyVersion: "", configVersion: 0, configHash: "", ...(capture === undefined ? {} : { capture }) } });
    const config = await stream.next((m) => m.message === "config");
    const view = JSON.parse(Buffer.from(config.config!.files[0]!.content).toString("utf8")) as { view: { proxy: { capture?: string } } };
    return { stream, proxyId: response.proxyId, view: view.view };
  };

  const transparent = await connect({ mode: "transparent", installed: true, outboundActive: false, errorCode: "", error: "" });
  assert.equal(transparent.view.proxy.capture, "transparent");
  const row = async (id: string) => (await ctl.api<ProxyRow[]>("/api/v1/proxies")).find((p) => p.proxyId === id);
  const first = await row(transparent.proxyId);
  assert.deepEqual({ ...first!.capture, at: "" }, { mode: "transparent", installed: true, outboundActive: false, errorCode: "", error: "", at: "" });

  // Health carries the rule state as it changes; the mode stays what Hello said.
  transparent.stream.send({ health: { proxyState: "running", runningVersion: 1, detail: "", capture: { mode: "none", installed: true, outboundActive: true, errorCode: "", error: "" } } });
  await waitFor(async () => (await row(transparent.proxyId))?.capture?.outboundActive === true, { what: "outbound active in the proxies list", timeoutMs: 5000 });
  assert.equal((await row(transparent.proxyId))!.capture!.mode, "transparent");

  const older = await connect(undefined);
  assert.equal(older.view.proxy.capture, undefined, "no capture status: explicit mode");
  assert.equal((await row(older.proxyId))!.capture, null);

  const none = await connect({ mode: "none", installed: false, outboundActive: false, errorCode: "", error: "" });
  assert.equal(none.view.proxy.capture, undefined);
  assert.equal((await row(none.proxyId))!.capture!.mode, "none");
});
