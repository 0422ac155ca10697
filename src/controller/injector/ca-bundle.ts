/**
 * At start the controller writes its CA into the `caBundle` of every webhook
 * in its MutatingWebhookConfiguration, so the API server trusts the
 * injector's serving certificate (issued by the same CA) without a
 * hand-copied bundle. A JSON patch with a `test` on resourceVersion makes the
 * write conditional: a concurrent edit (another replica, kubectl apply)
 * fails the test and we read again instead of overwriting it.
 */
import type { Logger } from "pino";
import { MeshfedError } from "../../common/errors.js";
import type { JsonPatchOp } from "../drivers/types.js";
import { httpStatusOf } from "../kube/errors.js";
import { INJECTOR_ERROR } from "./errors.js";
import type { InjectorKubeApi } from "./kube-api.js";

const ATTEMPTS = 5;

/** Returns how many webhooks were changed (0 when every caBundle was already ours). */
export async function patchCaBundle(api: Pick<InjectorKubeApi, "getWebhookConfiguration" | "patchWebhookConfiguration">, name: string, caBundlePem: string, logger: Logger): Promise<number> {
  const caBundle = Buffer.from(caBundlePem).toString("base64");
  for (let attempt = 1; ; attempt++) {
    const current = await api.getWebhookConfiguration(name);
    if (current === undefined) {
      throw new MeshfedError(INJECTOR_ERROR.caBundle, `MutatingWebhookConfiguration ${name} not found: apply config/kubernetes (kubectl apply -k) or set providers.kubernetes.injector.patchCaBundle: false`, { details: { name } });
    }
    if (current.webhooks.length === 0) throw new MeshfedError(INJECTOR_ERROR.caBundle, `MutatingWebhookConfiguration ${name} has no webhooks`, { details: { name } });
    const stale = current.webhooks.map((w, i) => ({ w, i })).filter(({ w }) => w.caBundle !== caBundle);
    if (stale.length === 0) return 0;
    const patch: JsonPatchOp[] = [
      { op: "test", path: "/metadata/resourceVersion", value: current.resourceVersion },
      // "add" on an existing member replaces it (RFC 6902 §4.1), and also creates an absent caBundle.
      ...stale.map(({ i }) => ({ op: "add" as const, path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle })),
    ];
    try {
      await api.patchWebhookConfiguration(name, patch);
      logger.info({ webhookConfiguration: name, webhooks: stale.map(({ w }) => w.name) }, "webhook caBundle set to the mesh CA");
      return stale.length;
    } catch (err) {
      // 409 Conflict, or 422 when our resourceVersion test failed: someone wrote in between.
      const status = httpStatusOf((err as { cause?: unknown }).cause ?? err);
      if ((status !== 409 && status !== 422) || attempt >= ATTEMPTS) throw err;
      logger.info({ webhookConfiguration: name, attempt }, "webhook configuration changed while patching; reading it again");
    }
  }
}
