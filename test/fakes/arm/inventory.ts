/**
 * What the fake ARM holds, and how each resource looks on the wire. Shapes
 * follow the public Azure REST API examples (Virtual Machines - List /
 * Instance View, Virtual Machine Scale Sets - List, Virtual Machine Scale Set
 * VMs - List with $expand=instanceView, Network Interfaces - List, Network
 * Interfaces - List Virtual Machine Scale Set Network Interfaces): ids keep
 * ARM's casing (`resourceGroups`, `Microsoft.Compute`), model fields live
 * under `properties`, power state is an instance-view status code.
 */
export type Power = "running" | "stopped" | "deallocated" | "starting";

export interface FakeVm {
  readonly resourceGroup: string;
  readonly name: string;
  tags?: Record<string, string>;
  power: Power;
  /** Private IP of the primary NIC; undefined: a NIC without an address. */
  ip?: string;
  /** A Flexible scale set (same subscription) this VM is an instance of: `rg/name`. */
  scaleSet?: string;
  /** Resource group of the VM's NIC, when not the VM's own. */
  nicResourceGroup?: string;
}

export interface FakeScaleSet {
  readonly resourceGroup: string;
  readonly name: string;
  readonly mode: "Uniform" | "Flexible";
  tags?: Record<string, string>;
}

export interface FakeScaleSetInstance {
  readonly resourceGroup: string;
  readonly scaleSet: string;
  readonly instanceId: string;
  power: Power;
  ip?: string;
  tags?: Record<string, string>;
}

const LOCATION = "westeurope";

export class FakeInventory {
  readonly subscriptionId: string;
  readonly resourceGroups = new Set<string>();
  readonly vms: FakeVm[] = [];
  readonly scaleSets: FakeScaleSet[] = [];
  readonly scaleSetInstances: FakeScaleSetInstance[] = [];

  constructor(subscriptionId: string) {
    this.subscriptionId = subscriptionId;
  }

  addResourceGroup(name: string): this {
    this.resourceGroups.add(name);
    return this;
  }

  addVm(vm: FakeVm): FakeVm {
    this.resourceGroups.add(vm.resourceGroup);
    this.vms.push(vm);
    return vm;
  }

  removeVm(resourceGroup: string, name: string): void {
    const i = this.vms.findIndex((v) => same(v.resourceGroup, resourceGroup) && same(v.name, name));
    if (i >= 0) this.vms.splice(i, 1);
  }

  addScaleSet(ss: FakeScaleSet): FakeScaleSet {
    this.resourceGroups.add(ss.resourceGroup);
    this.scaleSets.push(ss);
    return ss;
  }

  addScaleSetInstance(inst: FakeScaleSetInstance): FakeScaleSetInstance {
    this.scaleSetInstances.push(inst);
    return inst;
  }

  rgId(rg: string): string {
    return `/subscriptions/${this.subscriptionId}/resourceGroups/${rg}`;
  }

  vmId(vm: FakeVm): string {
    return `${this.rgId(vm.resourceGroup)}/providers/Microsoft.Compute/virtualMachines/${vm.name}`;
  }

  scaleSetId(rg: string, name: string): string {
    return `${this.rgId(rg)}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
  }

  instanceId(inst: FakeScaleSetInstance): string {
    return `${this.scaleSetId(inst.resourceGroup, inst.scaleSet)}/virtualMachines/${inst.instanceId}`;
  }

  vmNicId(vm: FakeVm): string {
    return `${this.rgId(vm.nicResourceGroup ?? vm.resourceGroup)}/providers/Microsoft.Network/networkInterfaces/${vm.name}-nic`;
  }

  instanceNicId(inst: FakeScaleSetInstance): string {
    return `${this.instanceId(inst)}/networkInterfaces/${inst.scaleSet}-nic`;
  }

  vmJson(vm: FakeVm): object {
    const ssRef = vm.scaleSet === undefined ? undefined : vm.scaleSet.split("/");
    return {
      name: vm.name,
      id: this.vmId(vm),
      type: "Microsoft.Compute/virtualMachines",
      location: LOCATION,
      ...(vm.tags === undefined ? {} : { tags: vm.tags }),
      properties: {
        vmId: fakeGuid(this.vmId(vm)),
        hardwareProfile: { vmSize: "Standard_B2s" },
        storageProfile: { osDisk: { osType: "Linux", name: `${vm.name}_OsDisk`, createOption: "FromImage", caching: "ReadWrite" } },
        osProfile: { computerName: vm.name, adminUsername: "azureuser", linuxConfiguration: { disablePasswordAuthentication: true } },
        networkProfile: { networkInterfaces: [{ id: this.vmNicId(vm), properties: { primary: true } }] },
        ...(ssRef === undefined ? {} : { virtualMachineScaleSet: { id: this.scaleSetId(ssRef[0]!, ssRef[1]!) } }),
        provisioningState: "Succeeded",
        timeCreated: "2024-05-01T10:00:00.0000000+00:00",
      },
    };
  }

  instanceViewJson(name: string, power: Power): object {
    return {
      computerName: name,
      osName: "ubuntu",
      osVersion: "22.04",
      statuses: statuses(power),
    };
  }

  scaleSetJson(ss: FakeScaleSet): object {
    const capacity = this.scaleSetInstances.filter((i) => same(i.resourceGroup, ss.resourceGroup) && same(i.scaleSet, ss.name)).length;
    return {
      name: ss.name,
      id: this.scaleSetId(ss.resourceGroup, ss.name),
      type: "Microsoft.Compute/virtualMachineScaleSets",
      location: LOCATION,
      ...(ss.tags === undefined ? {} : { tags: ss.tags }),
      sku: { name: "Standard_B2s", tier: "Standard", capacity },
      properties: {
        orchestrationMode: ss.mode,
        ...(ss.mode === "Uniform" ? { upgradePolicy: { mode: "Manual" }, overprovision: false } : {}),
        singlePlacementGroup: false,
        platformFaultDomainCount: 1,
        provisioningState: "Succeeded",
        uniqueId: fakeGuid(ss.name),
      },
    };
  }

  instanceJson(inst: FakeScaleSetInstance, expandInstanceView: boolean): object {
    const name = `${inst.scaleSet}_${inst.instanceId}`;
    return {
      name,
      id: this.instanceId(inst),
      type: "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
      instanceId: inst.instanceId,
      location: LOCATION,
      ...(inst.tags === undefined ? {} : { tags: inst.tags }),
      sku: { name: "Standard_B2s", tier: "Standard" },
      properties: {
        latestModelApplied: true,
        vmId: fakeGuid(this.instanceId(inst)),
        hardwareProfile: { vmSize: "Standard_B2s" },
        networkProfile: { networkInterfaces: [{ id: this.instanceNicId(inst) }] },
        ...(expandInstanceView ? { instanceView: { computerName: name, platformUpdateDomain: 0, platformFaultDomain: 0, statuses: statuses(inst.power) } } : {}),
        provisioningState: "Succeeded",
      },
    };
  }

  nicJson(id: string, vmId: string, ip: string | undefined): object {
    const name = id.split("/").pop()!;
    return {
      name,
      id,
      etag: 'W/"00000000-0000-0000-0000-000000000000"',
      ...(id.includes("/Microsoft.Network/") ? { location: LOCATION, type: "Microsoft.Network/networkInterfaces" } : {}),
      properties: {
        provisioningState: "Succeeded",
        ipConfigurations: [
          {
            name: "ipconfig1",
            id: `${id}/ipConfigurations/ipconfig1`,
            properties: {
              provisioningState: "Succeeded",
              ...(ip === undefined ? {} : { privateIPAddress: ip }),
              privateIPAllocationMethod: "Dynamic",
              subnet: { id: `${this.rgId("rg-network")}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default` },
              primary: true,
              privateIPAddressVersion: "IPv4",
            },
          },
        ],
        dnsSettings: { dnsServers: [], appliedDnsServers: [] },
        macAddress: "00-0D-3A-1B-C7-21",
        enableAcceleratedNetworking: false,
        enableIPForwarding: false,
        primary: true,
        virtualMachine: { id: vmId },
      },
    };
  }
}

function statuses(power: Power): object[] {
  const display: Record<Power, string> = { running: "VM running", stopped: "VM stopped", deallocated: "VM deallocated", starting: "VM starting" };
  return [
    { code: "ProvisioningState/succeeded", level: "Info", displayStatus: "Provisioning succeeded", time: "2024-05-01T10:01:00.0000000+00:00" },
    { code: `PowerState/${power}`, level: "Info", displayStatus: display[power] },
  ];
}

export function same(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** The `vmId` ARM reports for the resource with this id (what IMDS signs into attested documents). */
export function fakeGuid(seed: string): string {
  let h = 0;
  for (const c of seed) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  const hex = h.toString(16).padStart(8, "0");
  return `${hex}-0000-4000-8000-${hex}0000`;
}
