/**
 * Reads one scope (a resource group, or the whole subscription) from ARM and
 * returns what each mapped, running instance serves. DESIGN.md §3 flow 1.
 *
 * Calls, all paged through nextLink by the SDK:
 *  - VMs: virtualMachines.list(rg) / listAll(). Flexible scale-set instances
 *    are ordinary VMs here, carrying `virtualMachineScaleSet.id`.
 *  - power state: only for VMs that map to a service (one instanceView call
 *    each; the list does not carry it without a $filter).
 *  - NICs: networkInterfaces.list(rg) / listAll(), one listing for all VMs;
 *    a NIC in another resource group is fetched by id.
 *  - scale sets: virtualMachineScaleSets.list(rg) / listAll(); for Uniform
 *    ones, virtualMachineScaleSetVMs.list(..., $expand=instanceView) and the
 *    scale set's own NIC listing (the `microsoft.Compute/.../networkInterfaces`
 *    path), only when some instance maps and runs.
 * Any failed call fails the whole scope: the caller keeps its last good view,
 * so a partial read can never withdraw endpoints.
 */
import type { InstanceViewStatus, NetworkInterfaceReference, VirtualMachineScaleSet, VirtualMachineScaleSetVM } from "@azure/arm-compute";
import type { NetworkInterface } from "@azure/arm-network";
import { isIP } from "node:net";
import type { ServiceRef } from "../../../common/service.js";
import type { ArmClients } from "./arm-clients.js";
import type { AzureRule } from "./config.js";
import { AZURE_ERROR_CODES, toAzureError } from "./errors.js";
import type { AppProtocol } from "../../../common/app-protocol.js";
import { mapInstance, type Mapping, type Tags } from "./mapping.js";

/** A resource group, or `undefined` for every resource group of the subscription. */
export interface Scope {
  readonly resourceGroup: string | undefined;
}

export interface ObservedEndpoint {
  readonly service: ServiceRef;
  readonly ip: string;
  readonly port: number;
  readonly protocol?: AppProtocol;
  readonly serviceAccount?: string;
}

export interface ObservedInstance {
  /** The ARM resource id, as ARM spells it: provenance source. */
  readonly id: string;
  readonly name: string;
  readonly endpoints: readonly ObservedEndpoint[];
}

export interface InstanceProblem {
  readonly id: string;
  readonly name: string;
  readonly code: string;
  readonly message: string;
}

/**
 * Every VM and scale-set instance read, mapped or not, by its `vmId` (the
 * GUID IMDS signs into attested documents): what enrollment by attestation
 * checks a document against (docs/azure.md "Joining without a token").
 */
export interface AttestableInstance {
  /** Lower-cased. */
  readonly vmId: string;
  readonly id: string;
  readonly name: string;
  /** Power state; undefined when it was not read (an instance that maps to no service). */
  readonly running: boolean | undefined;
  readonly mapping: Mapping;
}

export interface ScopeReading {
  readonly instances: readonly ObservedInstance[];
  readonly attestable: readonly AttestableInstance[];
  readonly problems: readonly InstanceProblem[];
  readonly counts: { vms: number; scaleSets: number; scaleSetInstances: number; stopped: number; unmapped: number };
}

export interface ReadScopeOptions {
  readonly clients: ArmClients;
  readonly scope: Scope;
  readonly tagPrefix: string;
  readonly rules: readonly AzureRule[];
  /** Parallel instanceView / scale-set calls. */
  readonly concurrency: number;
}

interface ScaleSetInfo {
  readonly name: string;
  readonly resourceGroup: string;
  readonly tags: Tags | undefined;
  readonly flexible: boolean;
}

export async function readScope(options: ReadScopeOptions): Promise<ScopeReading> {
  const { clients, scope } = options;
  const rg = scope.resourceGroup;
  const where = rg === undefined ? "the subscription" : `resource group ${rg}`;
  const [vms, scaleSets, nics] = await Promise.all([
    collect(rg === undefined ? clients.compute.virtualMachines.listAll() : clients.compute.virtualMachines.list(rg), `list VMs in ${where}`),
    collect(rg === undefined ? clients.compute.virtualMachineScaleSets.listAll() : clients.compute.virtualMachineScaleSets.list(rg), `list scale sets in ${where}`),
    collect(rg === undefined ? clients.network.networkInterfaces.listAll() : clients.network.networkInterfaces.list(rg), `list network interfaces in ${where}`),
  ]);
  const scaleSetById = new Map<string, ScaleSetInfo>();
  for (const ss of scaleSets) if (ss.id !== undefined) scaleSetById.set(ss.id.toLowerCase(), scaleSetInfo(ss));
  const nicById = new Map<string, NetworkInterface>();
  for (const nic of nics) if (nic.id !== undefined) nicById.set(nic.id.toLowerCase(), nic);

  const instances: ObservedInstance[] = [];
  const attestable: AttestableInstance[] = [];
  const remember = (vmId: unknown, id: string, name: string, mapping: Mapping, running: boolean | undefined): void => {
    if (typeof vmId === "string" && vmId !== "") attestable.push({ vmId: vmId.toLowerCase(), id, name, mapping, running });
  };
  const problems: InstanceProblem[] = [];
  const counts = { vms: vms.length, scaleSets: scaleSets.length, scaleSetInstances: 0, stopped: 0, unmapped: 0 };
  const accept = (id: string, name: string, mapping: Mapping, ip: string | undefined): void => {
    if (mapping.kind !== "mapped") return;
    if (ip === undefined) {
      problems.push({ id, name, code: AZURE_ERROR_CODES.noAddress, message: `${name}: running and mapped to ${mapping.service.namespace}/${mapping.service.name}, but its primary NIC has no private IP` });
      return;
    }
    // The SDK passes through whatever ARM (or a proxy in front of it) sent; only an address may become an endpoint.
    if (typeof ip !== "string" || isIP(ip) === 0) {
      problems.push({ id, name, code: AZURE_ERROR_CODES.noAddress, message: `${name}: the private IP of its primary NIC, ${JSON.stringify(ip)}, is not an IP address` });
      return;
    }
    instances.push({
      id, name,
      endpoints: mapping.ports.map((port) => {
        const protocol = mapping.protocols?.[port];
        return { service: mapping.service, ip, port, ...(protocol === undefined ? {} : { protocol }), ...(mapping.serviceAccount === undefined ? {} : { serviceAccount: mapping.serviceAccount }) };
      }),
    });
  };
  const classify = (id: string, name: string, mapping: Mapping): boolean => {
    if (mapping.kind === "none") counts.unmapped++;
    if (mapping.kind === "bad") problems.push({ id, name, code: AZURE_ERROR_CODES.badTag, message: `${name}: ${mapping.message}` });
    return mapping.kind === "mapped";
  };

  // VMs, standalone and Flexible scale-set instances.
  await eachLimit(vms, options.concurrency, async (vm) => {
    const id = vm.id ?? "";
    const name = vm.name ?? id;
    const vmRg = resourceGroupOf(id) ?? rg ?? "";
    const ssId = vm.virtualMachineScaleSet?.id;
    const ss = ssId === undefined ? undefined : await scaleSetFor(ssId);
    const mapping = mapInstance({ resourceGroup: vmRg, scaleSet: ss?.name ?? lastSegment(ssId), tags: vm.tags, scaleSetTags: ss?.tags }, options.tagPrefix, options.rules);
    if (!classify(id, name, mapping)) {
      remember(vm.vmId, id, name, mapping, undefined);
      return;
    }
    const statuses = vm.instanceView?.statuses ?? (await call(() => clients.compute.virtualMachines.instanceView(vmRg, name), `read the instance view of VM ${name}`)).statuses;
    remember(vm.vmId, id, name, mapping, isRunning(statuses));
    if (!isRunning(statuses)) {
      counts.stopped++;
      return;
    }
    const ref = primaryNicRef(vm.networkProfile?.networkInterfaces);
    const nic = ref === undefined ? undefined : nicById.get(ref.toLowerCase()) ?? (await nicOutsideScope(ref));
    accept(id, name, mapping, nic === undefined ? undefined : primaryPrivateIp(nic));
  });

  // Uniform scale sets: instances exist only under the scale set.
  const uniform = scaleSets.filter((ss) => ss.id !== undefined && !scaleSetById.get(ss.id.toLowerCase())?.flexible);
  await eachLimit(uniform, options.concurrency, async (ss) => {
    const info = scaleSetById.get((ss.id ?? "").toLowerCase());
    if (info === undefined) return;
    const members = await collect(
      clients.compute.virtualMachineScaleSetVMs.list(info.resourceGroup, info.name, { expand: "instanceView" }),
      `list instances of scale set ${info.name}`,
    );
    counts.scaleSetInstances += members.length;
    const running: Array<{ vm: VirtualMachineScaleSetVM; mapping: Mapping }> = [];
    for (const vm of members) {
      const id = vm.id ?? "";
      const mapping = mapInstance({ resourceGroup: info.resourceGroup, scaleSet: info.name, tags: vm.tags, scaleSetTags: info.tags }, options.tagPrefix, options.rules);
      remember(vm.vmId, id, vm.name ?? id, mapping, isRunning(vm.instanceView?.statuses));
      if (!classify(id, vm.name ?? id, mapping)) continue;
      if (isRunning(vm.instanceView?.statuses)) running.push({ vm, mapping });
      else counts.stopped++;
    }
    if (running.length === 0) return;
    const ssNics = await collect(
      clients.network.networkInterfaces.listVirtualMachineScaleSetNetworkInterfaces(info.resourceGroup, info.name),
      `list network interfaces of scale set ${info.name}`,
    );
    for (const { vm, mapping } of running) {
      const id = vm.id ?? "";
      accept(id, vm.name ?? id, mapping, scaleSetInstanceIp(vm, ssNics));
    }
  });

  return { instances, attestable, problems, counts };

  // A Flexible instance may belong to a scale set outside this scope; read it once per sync.
  async function scaleSetFor(id: string): Promise<ScaleSetInfo | undefined> {
    const key = id.toLowerCase();
    const known = scaleSetById.get(key);
    if (known !== undefined) return known;
    const ssRg = resourceGroupOf(id);
    const name = lastSegment(id);
    if (ssRg === undefined || name === undefined) return undefined;
    const info = scaleSetInfo(await call(() => clients.compute.virtualMachineScaleSets.get(ssRg, name), `read scale set ${name}`));
    scaleSetById.set(key, info);
    return info;
  }

  async function nicOutsideScope(id: string): Promise<NetworkInterface | undefined> {
    const nicRg = resourceGroupOf(id);
    const name = lastSegment(id);
    if (nicRg === undefined || name === undefined) return undefined;
    return call(() => clients.network.networkInterfaces.get(nicRg, name), `read network interface ${name}`);
  }
}

function scaleSetInfo(ss: VirtualMachineScaleSet): ScaleSetInfo {
  const id = ss.id ?? "";
  return { name: ss.name ?? lastSegment(id) ?? id, resourceGroup: resourceGroupOf(id) ?? "", tags: ss.tags, flexible: ss.orchestrationMode === "Flexible" };
}

/** The power state, not the provisioning state, says whether the OS runs: `PowerState/running`. */
export function isRunning(statuses: readonly InstanceViewStatus[] | undefined): boolean {
  return (statuses ?? []).some((s) => s.code?.toLowerCase() === "powerstate/running");
}

/** The NIC marked primary, or the only one (ARM omits `primary` when there is just one). */
function primaryNicRef(refs: readonly NetworkInterfaceReference[] | undefined): string | undefined {
  if (refs === undefined || refs.length === 0) return undefined;
  return (refs.find((r) => r.primary === true) ?? (refs.length === 1 ? refs[0] : undefined))?.id;
}

export function primaryPrivateIp(nic: NetworkInterface): string | undefined {
  const configs = nic.ipConfigurations ?? [];
  const primary = configs.find((c) => c.primary === true) ?? (configs.length === 1 ? configs[0] : undefined);
  return primary?.privateIPAddress ?? undefined;
}

function scaleSetInstanceIp(vm: VirtualMachineScaleSetVM, nics: readonly NetworkInterface[]): string | undefined {
  const id = (vm.id ?? "").toLowerCase();
  const ref = primaryNicRef(vm.networkProfile?.networkInterfaces)?.toLowerCase();
  const own = nics.filter((n) => n.virtualMachine?.id?.toLowerCase() === id || (ref !== undefined && n.id?.toLowerCase() === ref));
  const nic = (ref === undefined ? undefined : own.find((n) => n.id?.toLowerCase() === ref)) ?? own.find((n) => n.primary === true) ?? (own.length === 1 ? own[0] : undefined);
  return nic === undefined ? undefined : primaryPrivateIp(nic);
}

export function resourceGroupOf(id: string): string | undefined {
  return /\/resourceGroups\/([^/]+)/i.exec(id)?.[1];
}

function lastSegment(id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  const last = id.replace(/\/+$/, "").split("/").pop();
  return last === "" ? undefined : last;
}

async function call<T>(fn: () => Promise<T>, what: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toAzureError(err, what);
  }
}

async function collect<T>(pages: AsyncIterable<T>, what: string): Promise<T[]> {
  const out: T[] = [];
  try {
    for await (const item of pages) out.push(item);
  } catch (err) {
    throw toAzureError(err, what);
  }
  return out;
}

/** Runs `fn` over `items`, at most `limit` at a time; stopping at the first failure. */
async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
