import { test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/common/logger.js";
import { errorCode } from "../../src/common/errors.js";
import { ClientNodeInjectorApi } from "../../src/controller/injector/index.js";
import { patchCaBundle } from "../../src/controller/injector/ca-bundle.js";
import { kubeHarness } from "../fakes/kube-api-harness.js";
import { webhookConfiguration, WEBHOOK_CONFIGURATION } from "./kubernetes-injector-fixture.js";

const MWC = "mutatingwebhookconfigurations.admissionregistration.k8s.io";
const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

type Webhooks = { webhooks: Array<{ name: string; clientConfig: { caBundle?: string } }> };

test("caBundle: set on every webhook; a second run writes nothing", async (t) => {
  const { api, kubeConfig } = await kubeHarness(t);
  const two = webhookConfiguration() as unknown as Webhooks & { metadata: { name: string } };
  two.webhooks.push({ ...two.webhooks[0]!, name: "second.meshfed.io" });
  api.apply(MWC, two);
  const client = new ClientNodeInjectorApi(kubeConfig);
  assert.equal(await patchCaBundle(client, WEBHOOK_CONFIGURATION, PEM, silentLogger()), 2);
  const stored = api.get(MWC, undefined, WEBHOOK_CONFIGURATION) as unknown as Webhooks;
  assert.deepEqual(stored.webhooks.map((w) => Buffer.from(w.clientConfig.caBundle ?? "", "base64").toString()), [PEM, PEM]);
  assert.equal(await patchCaBundle(client, WEBHOOK_CONFIGURATION, PEM, silentLogger()), 0);
  assert.equal(api.count("patch", MWC), 1);
});

test("caBundle: a concurrent edit fails the resourceVersion test and is re-read, not overwritten", async (t) => {
  const { api, kubeConfig } = await kubeHarness(t);
  api.apply(MWC, webhookConfiguration());
  const client = new ClientNodeInjectorApi(kubeConfig);
  let edits = 0;
  const racing = {
    getWebhookConfiguration: async (name: string) => {
      const view = await client.getWebhookConfiguration(name);
      if (edits++ === 0) {
        // Someone (kubectl apply) changes the object between our read and our patch.
        const current = api.get(MWC, undefined, WEBHOOK_CONFIGURATION)!;
        api.apply(MWC, { ...current, metadata: { ...current.metadata, labels: { edited: "yes" } } });
      }
      return view;
    },
    patchWebhookConfiguration: (name: string, patch: Parameters<typeof client.patchWebhookConfiguration>[1]) => client.patchWebhookConfiguration(name, patch),
  };
  assert.equal(await patchCaBundle(racing, WEBHOOK_CONFIGURATION, PEM, silentLogger()), 1);
  assert.equal(edits, 2);
  const stored = api.get(MWC, undefined, WEBHOOK_CONFIGURATION)!;
  assert.deepEqual(stored.metadata.labels, { edited: "yes" }, "the concurrent edit survived");
  assert.equal(Buffer.from((stored as unknown as Webhooks).webhooks[0]!.clientConfig.caBundle ?? "", "base64").toString(), PEM);
  assert.equal(api.count("patch", MWC), 2);
});

test("caBundle: a missing webhook configuration is a clear error", async (t) => {
  const { kubeConfig } = await kubeHarness(t);
  await assert.rejects(patchCaBundle(new ClientNodeInjectorApi(kubeConfig), WEBHOOK_CONFIGURATION, PEM, silentLogger()), (err: Error) => {
    assert.equal(errorCode(err), "MESHFED_INJECTOR_CA_BUNDLE");
    assert.match(err.message, /meshfed-sidecar-injector not found: apply config\/kubernetes/);
    return true;
  });
});
