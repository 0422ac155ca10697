/** On-prem endpoint provider (hosts file). DESIGN.md §2 (providers/onprem). */
export { OnPremProvider, type OnPremProviderOptions } from "./provider.js";
export { parseHostsFile, isValidPort, HOSTS_ERROR_CODES, type HostsFile, type Host, type HostService, type HostSsh } from "./hosts-file.js";
