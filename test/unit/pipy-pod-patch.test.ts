import { test } from "node:test";
import assert from "node:assert/strict";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import { interceptedPorts, probePorts } from "../../src/controller/drivers/pipy/pipy-pod-patch.js";
import type { PodBootstrap, PodView } from "../../src/controller/drivers/types.js";
import { applyJsonPatch } from "../fakes/json-patch.js";

const BOOTSTRAP: PodBootstrap = {
  proxyId: "0b7c5a1e-4c38-4f3e-9a57-2f0b1a9c0d11", secretName: "meshfed-proxy-x", repoUrl: "https://meshfed-controller.meshfed-system.svc:6060/",
  sidecarImage: "flomesh/pipy:1.5.18", initImage: "init:1", excludeInboundPorts: [],
};
const OFFSET = { inboundPortOffset: 10000 };

const pod = (spec: Partial<PodView["spec"]> = {}): PodView => ({ metadata: {}, spec: { containers: [{ name: "app" }], ...spec } });

test("intercepted ports: declared TCP ports minus probes (named or numbered), exclusions, UDP and offset overflow", () => {
  const cases: Array<{ name: string; view: PodView; exclude?: number[]; want: number[] }> = [
    { name: "no declared ports", view: pod(), want: [] },
    { name: "two ports, two containers, deduplicated", view: pod({ containers: [{ name: "a", ports: [{ containerPort: 8080 }] }, { name: "b", ports: [{ containerPort: 9090 }, { containerPort: 8080 }] }] }), want: [8080, 9090] },
    { name: "named httpGet probe port", view: pod({ containers: [{ name: "a", ports: [{ containerPort: 8080 }, { name: "health", containerPort: 8081 }], readinessProbe: { httpGet: { port: "health" } } }] }), want: [8080] },
    { name: "probe on the serving port leaves it plain", view: pod({ containers: [{ name: "a", ports: [{ containerPort: 8080 }], livenessProbe: { tcpSocket: { port: 8080 } } }] }), want: [] },
    { name: "grpc and startup probes", view: pod({ containers: [{ name: "a", ports: [{ containerPort: 50051 }, { containerPort: 8080 }], startupProbe: { grpc: { port: 50051 } } }] }), want: [8080] },
    { name: "UDP ignored", view: pod({ containers: [{ name: "a", ports: [{ containerPort: 53, protocol: "UDP" }, { containerPort: 8080, protocol: "TCP" }] }] }), want: [8080] },
    { name: "excluded by config", view: pod({ containers: [{ name: "a", ports: [{ containerPort: 8080 }, { containerPort: 9000 }] }] }), exclude: [9000], want: [8080] },
    { name: "port + offset past 65535", view: pod({ containers: [{ name: "a", ports: [{ containerPort: 60000 }, { containerPort: 8080 }] }] }), want: [8080] },
  ];
  for (const c of cases) assert.deepEqual(interceptedPorts(c.view, { ...BOOTSTRAP, excludeInboundPorts: c.exclude ?? [] }, OFFSET), c.want, c.name);
  assert.deepEqual(probePorts([{ name: "a", ports: [{ name: "h", containerPort: 81 }], livenessProbe: { httpGet: { port: "h" } }, readinessProbe: { httpGet: { port: "9000" } } }]), [81, 9000]);
});

test("patchPod: appends to existing arrays, creates absent ones; the result is a valid pod with the sidecar polling its repo path", () => {
  const driver = new PipyDriver({ trustDomain: "cluster.local", inboundPortOffset: 20000 });
  const bare = { metadata: {}, spec: { containers: [{ name: "app", ports: [{ containerPort: 8080 }] }] } };
  const withArrays = { ...bare, spec: { ...bare.spec, initContainers: [{ name: "setup" }], volumes: [{ name: "v", emptyDir: {} }] } };
  for (const before of [bare, withArrays]) {
    const after = applyJsonPatch(before, driver.patchPod(before, BOOTSTRAP)) as unknown as {
      spec: { containers: Array<{ name: string; args?: string[] }>; initContainers: Array<{ name: string; command?: string[] }>; volumes: Array<{ name: string }> };
    };
    assert.deepEqual(after.spec.containers.map((c) => c.name), ["app", "meshfed-proxy"]);
    assert.equal(after.spec.initContainers.at(-1)?.name, "meshfed-init");
    assert.equal(after.spec.initContainers.length, (before.spec as { initContainers?: unknown[] }).initContainers ? 2 : 1);
    assert.equal(after.spec.volumes.at(-1)?.name, "meshfed-bootstrap");
    // The trailing slash of repoUrl is not doubled; Pipy needs the URL to end with "/".
    assert.equal(after.spec.containers[1]!.args?.[0], `https://meshfed-controller.meshfed-system.svc:6060/repo/${BOOTSTRAP.proxyId}/`);
    // The driver's own offset, the one its inbound listeners use.
    assert.match(after.spec.initContainers.at(-1)!.command![2]!, /--dport 8080 -j REDIRECT --to-ports 28080/);
  }
});
