/**
 * Builds the credential and the two SDK clients the Azure provider reads ARM
 * with. Facts this relies on (checked on the SDK versions we pin, issue 6):
 *  - ComputeManagementClient (24.x) takes `endpoint` but keeps the public
 *    cloud's token scope unless `credentials.scopes` is given;
 *  - NetworkManagementClient (36.x) derives its scope from `endpoint` unless
 *    `credentialScopes` is given; we pass both explicitly, the same value;
 *  - both accept `tlsOptions: { ca }`, which is how a private CA (a TLS
 *    proxy, the tests' fake ARM) is trusted without NODE_EXTRA_CA_CERTS;
 *  - ClientSecretCredential with a custom authority host must not try
 *    instance discovery (it calls the public cloud), hence
 *    `disableInstanceDiscovery` whenever the authority host is not the
 *    public one.
 */
import { readFile } from "node:fs/promises";
import { ComputeManagementClient } from "@azure/arm-compute";
import { NetworkManagementClient } from "@azure/arm-network";
import type { TokenCredential } from "@azure/core-auth";
import { ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential } from "@azure/identity";
import { MeshfedError, errorMessage } from "../../../common/errors.js";
import type { AzureCredentialConfig } from "./config.js";
import { AZURE_ERROR_CODES } from "./errors.js";
import { armRetryPolicy, type ArmRetryOptions } from "./retry-policy.js";

export const PUBLIC_AUTHORITY_HOST = "https://login.microsoftonline.com";

export interface ArmClients {
  readonly compute: ComputeManagementClient;
  readonly network: NetworkManagementClient;
}

export interface ArmClientOptions {
  readonly subscriptionId: string;
  readonly endpoint: string;
  readonly credential: TokenCredential;
  /** Extra trusted CA certificates (PEM); replaces Node's default list for these clients, as `tls.connect` does. */
  readonly ca?: string | undefined;
  readonly retry: ArmRetryOptions;
}

/** `${endpoint}/.default`: the token audience of an ARM endpoint, for any cloud. */
export function armScope(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, "")}/.default`;
}

export function createArmClients(options: ArmClientOptions): ArmClients {
  const endpoint = options.endpoint.replace(/\/+$/, "");
  const scope = armScope(endpoint);
  const common = {
    endpoint,
    // Our policy retries; the SDK's would sleep unbounded on Retry-After.
    retryOptions: { maxRetries: 0 },
    additionalPolicies: [{ policy: armRetryPolicy(options.retry), position: "perCall" as const }],
    ...(options.ca === undefined ? {} : { tlsOptions: { ca: options.ca } }),
  };
  return {
    compute: new ComputeManagementClient(options.credential, options.subscriptionId, { ...common, credentials: { scopes: [scope] } }),
    network: new NetworkManagementClient(options.credential, options.subscriptionId, { ...common, credentialScopes: [scope] }),
  };
}

export interface CredentialOptions {
  readonly authorityHost: string;
  readonly ca?: string | undefined;
  /**
   * Token requests go through the same retry policy as ARM requests: bounded
   * waits, and the stop signal attached, so a stopped provider leaves no
   * token retry timer behind (the SDK's own retry ignores our signal).
   */
  readonly retry: ArmRetryOptions;
}

/** Reads `secretFile` now, so a missing file fails start() with a clear code rather than every sync. */
export async function createCredential(config: AzureCredentialConfig, options: CredentialOptions): Promise<TokenCredential> {
  const authorityHost = options.authorityHost.replace(/\/+$/, "");
  const custom = authorityHost !== PUBLIC_AUTHORITY_HOST;
  const common = {
    authorityHost,
    ...(custom ? { disableInstanceDiscovery: true } : {}),
    ...(options.ca === undefined ? {} : { tlsOptions: { ca: options.ca } }),
    retryOptions: { maxRetries: 0 },
    additionalPolicies: [{ policy: armRetryPolicy(options.retry), position: "perCall" as const }],
  };
  switch (config.type) {
    case "clientSecret": {
      let secret: string;
      try {
        secret = (await readFile(config.secretFile, "utf8")).trim();
      } catch (err) {
        throw new MeshfedError(AZURE_ERROR_CODES.config, `providers.azure.credential.secretFile ${config.secretFile}: ${errorMessage(err)}`, {
          cause: err,
          details: { file: config.secretFile },
        });
      }
      if (secret === "") {
        throw new MeshfedError(AZURE_ERROR_CODES.config, `providers.azure.credential.secretFile ${config.secretFile} is empty`, { details: { file: config.secretFile } });
      }
      return new ClientSecretCredential(config.tenantId, config.clientId, secret, common);
    }
    case "managedIdentity":
      return new ManagedIdentityCredential({ ...common, ...(config.clientId === undefined ? {} : { clientId: config.clientId }) });
    case "default":
      return new DefaultAzureCredential(common);
  }
}
