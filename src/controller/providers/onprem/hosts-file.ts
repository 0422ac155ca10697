/**
 * The on-prem hosts file: which hosts exist, their address, the services
 * (and ports) each runs, and optionally how to reach it over SSH for the agent
 * installer. DESIGN.md §2 (providers/onprem).
 *
 * `parseHostsFile` is pure so `meshfed validate` and tests can call it on text.
 * It reports every problem it finds, ordered by position, and throws the first
 * as a MeshfedError whose details carry `{ file, line, column, path, issues }`
 * (`issues`: every problem as `{ file, code, message, line, column, path }`).
 */
import { isIP } from "node:net";
import { z } from "zod";
import type { AppProtocol } from "../../../common/app-protocol.js";
import { isServiceAccountName, parseAppProtocol, PROTOCOL_CHOICES } from "../../../common/declared-protocol.js";
import { isDnsLabel } from "../../../common/service.js";
import { healthProbeSchema, probeIssue, type HealthProbe } from "../../../common/health-probe.js";
import { inputError, validateYaml, type InputIssue } from "../../../common/yaml-input.js";

export interface HostService {
  readonly namespace: string;
  readonly name: string;
  readonly port: number;
  /** The port's application protocol as written; absent = http. */
  readonly protocol?: AppProtocol;
  /** The identity the service runs as on this host; absent = the service's name. */
  readonly serviceAccount?: string;
  /**
   * An application health probe the agent on this host runs for this port
   * (docs/agent.md, "Health probes"); its port is the entry's. The controller
   * does not probe hosts itself: without an agent it has no effect.
   */
  readonly probe?: HealthProbe;
}

export interface HostSsh {
  readonly user: string;
  readonly port: number;
  /** Path of the private key; `~` is left for the installer to expand. */
  readonly key?: string;
}

export interface Host {
  readonly name: string;
  /** An IPv4 or IPv6 address, as written (IPv6 lower-cased). */
  readonly address: string;
  readonly services: readonly HostService[];
  readonly ssh?: HostSsh;
}

export interface HostsFile {
  readonly file: string;
  readonly hosts: readonly Host[];
}

export const HOSTS_ERROR_CODES = {
  notFound: "MESHFED_HOSTS_NOT_FOUND",
  read: "MESHFED_HOSTS_READ",
  yaml: "MESHFED_HOSTS_YAML",
  invalid: "MESHFED_HOSTS_INVALID",
  duplicateHost: "MESHFED_HOSTS_DUPLICATE_HOST",
  duplicateService: "MESHFED_HOSTS_DUPLICATE_SERVICE",
  duplicateEndpoint: "MESHFED_HOSTS_DUPLICATE_ENDPOINT",
  invalidAddress: "MESHFED_HOSTS_INVALID_ADDRESS",
  invalidPort: "MESHFED_HOSTS_INVALID_PORT",
  invalidName: "MESHFED_HOSTS_INVALID_NAME",
  invalidProtocol: "MESHFED_HOSTS_INVALID_PROTOCOL",
  invalidServiceAccount: "MESHFED_HOSTS_INVALID_SERVICE_ACCOUNT",
  invalidProbe: "MESHFED_HOSTS_INVALID_PROBE",
} as const;

// Shapes only: ports are plain numbers and addresses plain strings here, so the
// semantic pass below can give each mistake its own code.
const serviceSchema = z.strictObject({
  name: z.string(), namespace: z.string(), port: z.number(), protocol: z.string().optional(), serviceAccount: z.string().optional(),
  probe: z.record(z.string(), z.unknown()).optional(),
});
const sshSchema = z.strictObject({ user: z.string().min(1), port: z.number().optional(), key: z.string().min(1).optional() });
const hostSchema = z.strictObject({
  name: z.string(),
  address: z.string(),
  services: z.array(serviceSchema).nullish(),
  ssh: sshSchema.optional(),
});
const fileSchema = z.strictObject({ hosts: z.array(hostSchema).nullish() }).nullable();

type RawHost = z.infer<typeof hostSchema>;

type Issue = InputIssue;

// RFC 1123 host name: dot-separated labels, 253 characters at most.
const HOSTNAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;

export function isValidPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

export function parseHostsFile(text: string, file: string): HostsFile {
  const { value: shaped, input } = validateYaml(text, file, fileSchema, { syntaxCode: HOSTS_ERROR_CODES.yaml, schemaCode: HOSTS_ERROR_CODES.invalid });
  const rawHosts = shaped?.hosts ?? [];
  const issues = checkHosts(rawHosts);
  if (issues.length > 0) throw inputError(issues.map((i) => input.position(i)));
  return {
    file,
    hosts: rawHosts.map((h) => ({
      name: h.name,
      address: h.address.toLowerCase(),
      services: (h.services ?? []).map((s) => ({
        namespace: s.namespace, name: s.name, port: s.port,
        ...(s.protocol === undefined ? {} : { protocol: parseAppProtocol(s.protocol)! }),
        ...(s.serviceAccount === undefined ? {} : { serviceAccount: s.serviceAccount }),
        ...(s.probe === undefined ? {} : { probe: healthProbeSchema.parse({ ...s.probe, port: s.port }) }),
      })),
      ...(h.ssh === undefined ? {} : { ssh: { user: h.ssh.user, port: h.ssh.port ?? 22, ...(h.ssh.key === undefined ? {} : { key: h.ssh.key }) } }),
    })),
  };
}

function checkHosts(hosts: readonly RawHost[]): Issue[] {
  const issues: Issue[] = [];
  const hostNames = new Map<string, number>();
  // address:port -> "namespace/name" of the first service that claimed it.
  const endpoints = new Map<string, string>();
  hosts.forEach((host, h) => {
    const at = ["hosts", h];
    if (!HOSTNAME.test(host.name) || host.name.length > 253) {
      issues.push({ code: HOSTS_ERROR_CODES.invalidName, message: `host name "${host.name}" is not a valid host name (RFC 1123)`, path: [...at, "name"] });
    }
    const first = hostNames.get(host.name.toLowerCase());
    if (first !== undefined) {
      issues.push({ code: HOSTS_ERROR_CODES.duplicateHost, message: `duplicate host name "${host.name}" (first defined at hosts[${first}])`, path: [...at, "name"] });
    } else {
      hostNames.set(host.name.toLowerCase(), h);
    }
    const addressOk = isIP(host.address) !== 0;
    if (!addressOk) {
      issues.push({ code: HOSTS_ERROR_CODES.invalidAddress, message: `address "${host.address}" is not an IPv4 or IPv6 address`, path: [...at, "address"] });
    }
    if (host.ssh?.port !== undefined && !isValidPort(host.ssh.port)) {
      issues.push({ code: HOSTS_ERROR_CODES.invalidPort, message: `ssh port ${host.ssh.port} is not an integer in 1..65535`, path: [...at, "ssh", "port"] });
    }
    const seen = new Set<string>();
    (host.services ?? []).forEach((svc, s) => {
      const sat = [...at, "services", s];
      if (!isDnsLabel(svc.namespace)) {
        issues.push({ code: HOSTS_ERROR_CODES.invalidName, message: `namespace "${svc.namespace}" is not a DNS label (RFC 1123)`, path: [...sat, "namespace"] });
      }
      if (!isDnsLabel(svc.name)) {
        issues.push({ code: HOSTS_ERROR_CODES.invalidName, message: `service name "${svc.name}" is not a DNS label (RFC 1123)`, path: [...sat, "name"] });
      }
      if (svc.protocol !== undefined && parseAppProtocol(svc.protocol) === undefined) {
        issues.push({ code: HOSTS_ERROR_CODES.invalidProtocol, message: `protocol "${svc.protocol}" is not one of ${PROTOCOL_CHOICES}`, path: [...sat, "protocol"] });
      }
      if (svc.serviceAccount !== undefined && !isServiceAccountName(svc.serviceAccount)) {
        issues.push({ code: HOSTS_ERROR_CODES.invalidServiceAccount, message: `serviceAccount "${svc.serviceAccount}" is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.')`, path: [...sat, "serviceAccount"] });
      }
      if (svc.probe !== undefined) {
        const probeIssueOf = (message: string, field?: string) =>
          issues.push({ code: HOSTS_ERROR_CODES.invalidProbe, message: `probe: ${message}`, path: [...sat, "probe", ...(field === undefined ? [] : [field])] });
        if ("port" in svc.probe) probeIssueOf("has no port of its own: it probes the entry's port", "port");
        else if (isValidPort(svc.port)) {
          const parsed = healthProbeSchema.safeParse({ ...svc.probe, port: svc.port });
          if (!parsed.success) probeIssueOf(probeIssue(parsed.error), parsed.error.issues[0]?.path.map(String)[0]);
        }
      }
      if (!isValidPort(svc.port)) {
        issues.push({ code: HOSTS_ERROR_CODES.invalidPort, message: `port ${svc.port} is not an integer in 1..65535`, path: [...sat, "port"] });
        return;
      }
      const key = `${svc.namespace}/${svc.name}:${svc.port}`;
      if (seen.has(key)) {
        issues.push({ code: HOSTS_ERROR_CODES.duplicateService, message: `service ${key} is listed twice on host "${host.name}"`, path: sat });
        return;
      }
      seen.add(key);
      if (!addressOk) return;
      const endpoint = `${host.address.toLowerCase()}:${svc.port}`;
      const owner = endpoints.get(endpoint);
      const service = `${svc.namespace}/${svc.name}`;
      if (owner !== undefined && owner !== service) {
        issues.push({ code: HOSTS_ERROR_CODES.duplicateEndpoint, message: `${endpoint} is claimed by both ${owner} and ${service}`, path: [...sat, "port"] });
      } else {
        endpoints.set(endpoint, service);
      }
    });
  });
  return issues;
}
