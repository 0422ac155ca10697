// The pod init container's capture script (docs/dataplane.md "Capture in
// pods"): compared with its golden file, then run for real with sh inside a
// network namespace, twice (an init container may run again in the same
// sandbox), and the resulting nat table compared with the expected rules.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import type { PodBootstrap } from "../../src/controller/drivers/types.js";
import { Netns, netnsAvailable } from "../helpers/capture-netns.js";
import { applyJsonPatch } from "../fakes/json-patch.js";

// Goldens live in the source tree, found from dist*/test/integration.
const GOLDEN = fileURLToPath(new URL("../../../test/golden/capture/pod-init.sh", import.meta.url));

const BOOTSTRAP: PodBootstrap = {
  proxyId: "0b7c5a1e-4c38-4f3e-9a57-2f0b1a9c0d11", secretName: "meshfed-proxy-x", repoUrl: "https://meshfed-controller.meshfed-system.svc:6060/",
  sidecarImage: "flomesh/pipy:1.5.18", initImage: "init:1", excludeInboundPorts: [9090],
  outbound: {
    controllerAddresses: ["10.96.0.15"],
    excludeOutboundIPRanges: ["169.254.169.254/32", "10.200.0.0/16"],
    excludeOutboundPorts: [5432],
    includeOutboundIPRanges: [],
    includeOutboundPorts: [],
  },
};

const POD = {
  metadata: {},
  spec: { containers: [{ name: "app", ports: [{ containerPort: 8080 }, { containerPort: 9090 }, { name: "health", containerPort: 8081 }], readinessProbe: { httpGet: { port: "health" } } }] },
};

const EXPECTED = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:MESHFED_INBOUND - [0:0]
:MESHFED_OUTPUT - [0:0]
-A PREROUTING -p tcp -j MESHFED_INBOUND
-A OUTPUT -p tcp -j MESHFED_OUTPUT
-A MESHFED_INBOUND -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 18080
-A MESHFED_OUTPUT -m owner --uid-owner 1500 -j RETURN
-A MESHFED_OUTPUT -d 127.0.0.0/8 -j RETURN
-A MESHFED_OUTPUT -d 10.96.0.15/32 -j RETURN
-A MESHFED_OUTPUT -d 169.254.169.254/32 -j RETURN
-A MESHFED_OUTPUT -d 10.200.0.0/16 -j RETURN
-A MESHFED_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN
-A MESHFED_OUTPUT -p tcp -j REDIRECT --to-ports 15002
COMMIT
`;

function initScript(): string {
  const driver = new PipyDriver({ trustDomain: "cluster.local", inboundPortOffset: 10000 });
  const pod = applyJsonPatch(POD, driver.patchPod(POD, BOOTSTRAP)) as unknown as {
    spec: { initContainers: Array<{ name: string; command: string[] }>; containers: Array<{ name: string; securityContext?: { runAsUser?: number } }> };
  };
  const init = pod.spec.initContainers.find((c) => c.name === "meshfed-init")!;
  assert.deepEqual(init.command.slice(0, 2), ["sh", "-c"]);
  // The rules exempt uid 1500: the sidecar must run as exactly that uid.
  assert.equal(pod.spec.containers.find((c) => c.name === "meshfed-proxy")?.securityContext?.runAsUser, 1500);
  return init.command[2]!;
}

test("golden: the init container's capture script", async () => {
  const script = initScript();
  if (process.env.UPDATE_GOLDEN === "1") await writeFile(GOLDEN, script);
  assert.equal(script, await readFile(GOLDEN, "utf8"), `${GOLDEN} differs; rerun with UPDATE_GOLDEN=1 if the change is intended`);
});

test("the init script run for real in a network namespace, twice, leaves exactly the expected rules", async (t) => {
  if (!(await netnsAvailable(t))) return;
  const ns = await Netns.create(t);
  const script = initScript();
  await ns.exec("sh", "-c", script);
  assert.equal(await ns.natTable(), EXPECTED);
  await ns.exec("sh", "-c", script);
  assert.equal(await ns.natTable(), EXPECTED, "a second run (init container restart) changes nothing");
});
