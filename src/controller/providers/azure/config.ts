/**
 * `providers.azure` in the controller config (docs/azure.md). The field names
 * are a contract (issue 6): subscriptionId, resourceGroups, endpoint,
 * authorityHost, credential, interval, tagPrefix; plus `rules` (mapping
 * without tags) and `removalGrace` (how long a vanished VM keeps its
 * endpoints). Durations are strings ("30s", "2m") like the rest of the file.
 */
import { z } from "zod";
import { durationSchema } from "../../../common/config-schema.js";
import { isServiceAccountName } from "../../../common/declared-protocol.js";
import { isDnsLabel } from "../../../common/service.js";

const duration = durationSchema;

const dnsLabel = z.string().refine(isDnsLabel, { message: "must be a DNS label (RFC 1123: lower-case letters, digits, '-')" });
const port = z.number().int().min(1).max(65535);
const httpsUrl = z.url({ protocol: /^https$/, error: "must be an https:// URL (the Azure SDK refuses bearer tokens over plain http)" });

// Subscription ids are GUIDs; ARM answers anything else with a 404 much later.
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const azureCredentialSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("default") }),
  z.strictObject({ type: z.literal("managedIdentity"), clientId: z.string().min(1).optional() }),
  z.strictObject({
    type: z.literal("clientSecret"),
    tenantId: z.string().min(1),
    clientId: z.string().min(1),
    /** A file holding the secret (mode 0600, e.g. a mounted Kubernetes Secret); never the secret itself. */
    secretFile: z.string().min(1),
  }),
]);

/**
 * A rule maps instances without a `<prefix>service` tag. Every field given
 * must match (names compared case-insensitively, as Azure compares them);
 * the first matching rule wins.
 */
export const azureRuleSchema = z
  .strictObject({
    resourceGroup: z.string().min(1).optional(),
    scaleSet: z.string().min(1).optional(),
    namespace: dnsLabel.default("default"),
    service: dnsLabel,
    ports: z.array(port).min(1),
    /** The identity of the rule's instances (default: the service's name). */
    serviceAccount: z.string().refine(isServiceAccountName, { message: "must be a DNS-1123 subdomain (a Kubernetes ServiceAccount name)" }).optional(),
  })
  .refine((r) => r.resourceGroup !== undefined || r.scaleSet !== undefined, {
    message: "a rule needs resourceGroup, scaleSet or both",
  });

export const azureProviderConfigSchema = z.strictObject({
  subscriptionId: z.string().regex(GUID, "must be a subscription id (a GUID)"),
  /** Empty: every resource group of the subscription, read as one scope. */
  resourceGroups: z.array(z.string().min(1).max(90)).default([]),
  endpoint: httpsUrl.default("https://management.azure.com"),
  authorityHost: httpsUrl.default("https://login.microsoftonline.com"),
  credential: azureCredentialSchema.default({ type: "default" }),
  interval: duration.default(30_000).refine((ms) => ms >= 1000, { message: "must be at least 1s" }),
  tagPrefix: z.string().regex(/^[A-Za-z0-9._-]{0,64}$/, "letters, digits, '.', '_' and '-' only (Azure tag names may not contain '/')").default("meshfed-"),
  rules: z.array(azureRuleSchema).default([]),
  removalGrace: duration.default(90_000),
});

export type AzureProviderConfig = z.output<typeof azureProviderConfigSchema>;
export type AzureProviderConfigInput = z.input<typeof azureProviderConfigSchema>;
export type AzureCredentialConfig = z.output<typeof azureCredentialSchema>;
export type AzureRule = z.output<typeof azureRuleSchema>;
