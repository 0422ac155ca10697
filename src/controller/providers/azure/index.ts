/**
 * Azure endpoint provider (VMs, VM scale sets Uniform and Flexible).
 * DESIGN.md §2 (providers/azure); docs/azure.md. Registered explicitly by the
 * composition root: `createAzureProvider({ config: config.providers.azure, logger, metrics })`.
 */
import { AzureProvider, type AzureProviderOptions } from "./provider.js";

export type { AttestableInstance } from "./scope-reader.js";
export { AzureProvider, type AzureProviderOptions, type AzureProviderStatus, type AzureRetrySettings, type ScopeStatus } from "./provider.js";
export { azureProviderConfigSchema, azureCredentialSchema, azureRuleSchema, type AzureProviderConfig, type AzureProviderConfigInput, type AzureCredentialConfig, type AzureRule } from "./config.js";
export { AZURE_ERROR_CODES, type AzureErrorCode } from "./errors.js";
export { mapInstance, parsePorts, type Mapping, type MappingInput, type Tags } from "./mapping.js";

/** Builds (does not start) the provider; `start(signal)` reads the credential and runs the first sync. */
export function createAzureProvider(options: AzureProviderOptions): AzureProvider {
  return new AzureProvider(options);
}
