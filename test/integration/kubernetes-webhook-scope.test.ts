// Issue 16 item 6: the webhook's failurePolicy is Fail, so it must never be
// called where a controller outage cannot be afforded (kube-system,
// kube-public, kube-node-lease, the controller's own namespace). Against the
// fake API server: the shipped configuration starts and leaves a mislabelled
// kube-system alone; a Fail configuration without the exclusion is refused at
// start with MESHFED_INJECTOR_WEBHOOK_UNSAFE; an Ignore one starts.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type { KubeHarness } from "../fakes/kube-api-harness.js";
import type { KubeObject } from "../fakes/kube-api-server.js";
import { meshedNamespace } from "../fakes/kube-api-objects.js";
import { appPod, podReview, startInjectorFixture, webhookConfiguration } from "./kubernetes-injector-fixture.js";

const MWC = "mutatingwebhookconfigurations.admissionregistration.k8s.io";

/** The shipped configuration as an older or hand-written one would be: meshed namespaces only, no exclusions. */
function withoutExclusions(failurePolicy: "Fail" | "Ignore" | undefined): KubeObject {
  const mwc = webhookConfiguration() as KubeObject & { webhooks: Array<Record<string, unknown>> };
  return {
    ...mwc,
    webhooks: mwc.webhooks.map(({ failurePolicy: _drop, ...w }) => ({
      ...w, ...(failurePolicy === undefined ? {} : { failurePolicy }), namespaceSelector: { matchLabels: { "meshfed.io/monitored-by": "meshfed" } },
    })),
  };
}

interface Review { response: { allowed: boolean; patch?: string; warnings?: string[] } }

test("webhook scope: the shipped configuration starts, and a pod in a mislabelled kube-system or the controller's namespace gets no sidecar", async (t) => {
  const f = await startInjectorFixture(t, {}, {
    setup: (h) => {
      h.api.apply("namespaces", meshedNamespace("kube-system"));
      h.api.apply("namespaces", meshedNamespace("meshfed-system"));
    },
  });
  for (const ns of ["kube-system", "meshfed-system"]) {
    const { status, body } = await f.post(podReview(ns, appPod()));
    assert.equal(status, 200);
    const { response } = body as Review;
    assert.equal(response.allowed, true);
    assert.equal(response.patch, undefined, `no sidecar in ${ns}`);
    assert.ok(response.warnings?.some((w) => w.includes(`never injects into namespace ${ns}`)), JSON.stringify(response.warnings));
  }
  // A meshed namespace still gets its sidecar.
  const meshed = (await f.post(podReview("bookstore", appPod()))).body as Review;
  assert.ok(meshed.response.patch !== undefined, "bookstore pods are injected");
  assert.equal(f.h.api.count("patch", MWC), 1, "the caBundle was patched; nothing else");
});

async function refusedAtStart(t: TestContext, policy: "Fail" | undefined): Promise<void> {
  let harness: KubeHarness | undefined;
  await assert.rejects(startInjectorFixture(t, {}, { webhookConfiguration: withoutExclusions(policy), setup: (h) => (harness = h) }), (err: Error & { code?: string }) => {
    assert.equal(err.code, "MESHFED_INJECTOR_WEBHOOK_UNSAFE");
    assert.match(err.message, /sidecar\.meshfed\.io \(failurePolicy Fail\) would be called for kube-system, kube-public, kube-node-lease, meshfed-system/);
    assert.match(err.message, /kubernetes\.io\/metadata\.name/);
    return true;
  });
  assert.equal(harness?.api.count("patch", MWC), 0, "the caBundle was not touched");
}

test("webhook scope: failurePolicy Fail without the namespace exclusions is refused at start, before anything is patched", (t) => refusedAtStart(t, "Fail"));

test("webhook scope: no failurePolicy (the API's default is Fail) without the namespace exclusions is refused at start too", (t) => refusedAtStart(t, undefined));

test("webhook scope: failurePolicy Ignore without the exclusions starts (a warning), and still leaves kube-system alone", async (t) => {
  const f = await startInjectorFixture(t, {}, { webhookConfiguration: withoutExclusions("Ignore"), setup: (h) => h.api.apply("namespaces", meshedNamespace("kube-system")) });
  const { body } = await f.post(podReview("kube-system", appPod()));
  assert.equal((body as Review).response.patch, undefined);
});
