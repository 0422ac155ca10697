/**
 * Shared setup for the azure-*.test.ts files: a fake ARM, a secret file, and
 * an AzureProvider wired to them through the real SDK clients and the real
 * ClientSecretCredential, the way the controller builds it from config. Not
 * a test file itself.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import type { Logger } from "../../../src/common/logger.js";
import { ControllerMetrics } from "../../../src/common/metrics.js";
import { AzureProvider, type AzureProviderConfig, type AzureProviderOptions } from "../../../src/controller/providers/azure/index.js";
import { FakeArm } from "./server.js";

export interface Harness {
  readonly arm: FakeArm;
  readonly metrics: ControllerMetrics;
  readonly logs: Array<Record<string, unknown>>;
  readonly ac: AbortController;
  readonly secretFile: string;
  /** A provider on this fake; `config` overrides the defaults below. */
  provider(config?: Partial<AzureProviderConfig>, options?: Partial<AzureProviderOptions>): AzureProvider;
}

interface After {
  after(fn: () => unknown): void;
}

export async function armHarness(t: After): Promise<Harness> {
  const arm = await FakeArm.start();
  const dir = await mkdtemp(join(tmpdir(), "meshfed-azure-"));
  const secretFile = join(dir, "client-secret");
  await writeFile(secretFile, `${arm.clientSecret}\n`, { mode: 0o600 });
  const ac = new AbortController();
  const metrics = new ControllerMetrics();
  const logs: Array<Record<string, unknown>> = [];
  const logger: Logger = pino({ level: "debug" }, { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) });
  t.after(async () => {
    ac.abort();
    await arm.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  return {
    arm,
    metrics,
    logs,
    ac,
    secretFile,
    provider(config = {}, options = {}) {
      return new AzureProvider({
        config: {
          subscriptionId: arm.subscriptionId,
          resourceGroups: [],
          endpoint: arm.url,
          authorityHost: arm.url,
          credential: { type: "clientSecret", tenantId: arm.tenantId, clientId: arm.clientId, secretFile },
          interval: 60_000,
          tagPrefix: "meshfed-",
          rules: [],
          removalGrace: 0,
          ...config,
        },
        logger,
        metrics,
        ca: arm.ca,
        retry: { baseDelayMs: 5, maxDelayMs: 20 },
        ...options,
      });
    },
  };
}

export const TAGS = (service: string, ports: string, namespace?: string): Record<string, string> => ({
  "meshfed-service": service,
  "meshfed-ports": ports,
  ...(namespace === undefined ? {} : { "meshfed-namespace": namespace }),
});


export async function counterValue(metrics: ControllerMetrics, labels: Record<string, string>): Promise<number> {
  const m = await metrics.providerErrors.get();
  const v = m.values.find((x) => Object.entries(labels).every(([k, val]) => (x.labels as Record<string, unknown>)[k] === val));
  return v?.value ?? 0;
}

/**
 * For a controller process pointed at `arm`: writes the fake's CA (to trust
 * through NODE_EXTRA_CA_CERTS, as a user trusts a proxy CA) and the client
 * secret into `dir`, and answers the `providers.azure` config lines.
 */
export async function controllerAzureConfig(arm: FakeArm, dir: string, extra: readonly string[] = []): Promise<{ lines: string[]; caFile: string }> {
  const caFile = join(dir, "arm-ca.pem");
  await writeFile(caFile, arm.ca);
  await writeFile(join(dir, "secret"), `${arm.clientSecret}\n`, { mode: 0o600 });
  return {
    caFile,
    lines: [
      "providers:",
      "  azure:",
      `    subscriptionId: ${arm.subscriptionId}`,
      "    resourceGroups: [shop-rg]",
      `    endpoint: ${arm.url}`,
      `    authorityHost: ${arm.url}`,
      ...extra.map((line) => `    ${line}`),
      `    credential: { type: clientSecret, tenantId: ${arm.tenantId}, clientId: ${arm.clientId}, secretFile: secret }`,
      "",
    ],
  };
}
