// Shared setup for kubernetes-injector*.test.ts (not a test file itself): the
// fake API server with a meshed and a plain namespace, a Service and the
// MutatingWebhookConfiguration; the whole controller in process with the
// Kubernetes provider, the Pipy repo and the injector on port 0; and an HTTPS
// client that verifies the webhook's certificate for the Service DNS name, as
// the API server does.
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { parse } from "yaml";
import { kubernetesProviderConfigSchema } from "../../src/controller/kube/index.js";
import type { KubeObject } from "../fakes/kube-api-server.js";
import { kubeHarness, type KubeHarness } from "../fakes/kube-api-harness.js";
import { meshedNamespace, namespace, service } from "../fakes/kube-api-objects.js";
import { startTestController, type TestController } from "../helpers/in-process-controller.js";

export const WEBHOOK_CONFIGURATION = "meshfed-sidecar-injector";
export const WEBHOOK_DNS_NAME = "meshfed-controller.meshfed-system.svc";

export interface InjectorFixture {
  readonly h: KubeHarness;
  readonly controller: TestController;
  readonly ca: string;
  /** POSTs a body to the webhook; returns status and parsed (or raw) body. */
  post(body: string | object, options?: { path?: string; method?: string }): Promise<{ status: number; body: unknown }>;
}

/** The shipped MutatingWebhookConfiguration (config/kubernetes/webhook.yaml), as `kubectl apply` creates it. */
export function webhookConfiguration(): KubeObject {
  const shipped = new URL("../../../config/kubernetes/webhook.yaml", import.meta.url);
  const object = parse(readFileSync(shipped, "utf8")) as KubeObject & { metadata: { name: string } };
  if (object.metadata.name !== WEBHOOK_CONFIGURATION) throw new Error(`webhook.yaml names ${object.metadata.name}`);
  return object;
}

/** `injector`: more injector settings, e.g. short orphan sweeps; `setup`: more objects before the controller starts. */
export async function startInjectorFixture(
  t: { after: (fn: () => unknown) => void },
  injector: Record<string, unknown> = {},
  options: { webhookConfiguration?: KubeObject; setup?: (h: KubeHarness) => void } = {},
): Promise<InjectorFixture> {
  const h = await kubeHarness(t, { namespace: "meshfed-system" });
  h.api.apply("namespaces", meshedNamespace("bookstore"));
  h.api.apply("namespaces", namespace("plain"));
  h.api.apply("namespaces", namespace("meshfed-system"));
  h.api.apply("services", service("bookstore", "bookstore"));
  h.api.apply("mutatingwebhookconfigurations.admissionregistration.k8s.io", options.webhookConfiguration ?? webhookConfiguration());
  options.setup?.(h);
  const controller = await startTestController(t, {
    patch: (c) => ({
      ...c,
      repo: { address: "127.0.0.1:0" },
      providers: {
        ...c.providers,
        kubernetes: kubernetesProviderConfigSchema.parse({
          kubeconfig: h.kubeconfig, smi: false, backoff: { initial: "20ms", max: "80ms" },
          injector: { enabled: true, address: "127.0.0.1:0", ...injector },
        }),
      },
    }),
  });
  const ca = await controller.api<string>("/api/v1/ca");
  const port = Number(controller.injectorAddress?.split(":").pop());
  const post: InjectorFixture["post"] = (body, options = {}) => new Promise((resolve, reject) => {
    const data = typeof body === "string" ? body : JSON.stringify(body);
    const req = request({
      host: "127.0.0.1", port, method: options.method ?? "POST", path: options.path ?? "/mutate-pods", ca, servername: WEBHOOK_DNS_NAME,
      headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(data)) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // keep the text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on("error", reject);
    req.end(data);
  });
  return { h, controller, ca, post };
}

/** An AdmissionReview for a Pod CREATE. */
export function podReview(ns: string, pod: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: `uid-${Math.random().toString(16).slice(2)}`,
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      namespace: ns,
      operation: "CREATE",
      object: pod,
      ...extra,
    },
  };
}

/** A bookstore pod as a Deployment creates it: generateName, labels, a probe on its own port. */
export function appPod(annotations?: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { generateName: "bookstore-7d9f-", labels: { app: "bookstore" }, ...(annotations ? { annotations } : {}) },
    spec: {
      serviceAccountName: "bookstore",
      containers: [{
        name: "app",
        image: "bookstore:1",
        ports: [{ name: "http", containerPort: 8080 }, { name: "health", containerPort: 8081 }],
        readinessProbe: { httpGet: { path: "/ready", port: "health" } },
        livenessProbe: { tcpSocket: { port: 8081 } },
      }],
    },
  };
}

