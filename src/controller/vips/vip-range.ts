/**
 * The reserved IPv4 range mesh virtual IPs come from (`mesh.vipRange`).
 *
 * Default 240.0.0.0/4: "reserved for future use" (RFC 1112 §4, RFC 6890),
 * never assigned to a network and never routed on the internet, so a VIP can
 * not shadow a real peer; Kuma and Consul take their virtual IPs from the same
 * block for the same reason. Linux routes it like any unicast address, which
 * is all the capture rules need (the packet never leaves the host: it is
 * redirected to Pipy in nat OUTPUT).
 */
import { createHash } from "node:crypto";
import { isIPv4 } from "node:net";
import { MeshfedError } from "../../common/errors.js";

export const DEFAULT_VIP_RANGE = "240.0.0.0/4";
export const VIP_RANGE_INVALID = "MESHFED_VIP_RANGE_INVALID";

export class VipRange {
  readonly cidr: string;
  readonly #base: number;
  readonly #size: number;
  /** The first and last address of a range of 4 or more are its network and broadcast addresses: never handed out. */
  readonly #skipEnds: boolean;

  private constructor(cidr: string, base: number, size: number) {
    this.cidr = cidr;
    this.#base = base;
    this.#size = size;
    this.#skipEnds = size >= 4;
  }

  static parse(text: string): VipRange {
    const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(text.trim());
    const prefix = m ? Number(m[2]) : NaN;
    if (!m || !isIPv4(m[1]!) || !(prefix >= 1 && prefix <= 32)) {
      throw new MeshfedError(VIP_RANGE_INVALID, `"${text}" is not an IPv4 CIDR range such as ${DEFAULT_VIP_RANGE}`);
    }
    const size = 2 ** (32 - prefix);
    const address = toNumber(m[1]!);
    if (address % size !== 0) throw new MeshfedError(VIP_RANGE_INVALID, `"${text}" has host bits set; the range starts at ${toIp(address - (address % size))}`);
    return new VipRange(`${m[1]}/${prefix}`, address, size);
  }

  /** How many addresses can be handed out. */
  get usable(): number {
    return this.#skipEnds ? this.#size - 2 : this.#size;
  }

  contains(ip: string): boolean {
    if (!isIPv4(ip)) return false;
    const n = toNumber(ip) - this.#base;
    return n >= 0 && n < this.#size && (!this.#skipEnds || (n !== 0 && n !== this.#size - 1));
  }

  /**
   * Every usable address in probe order for `service`: starting at a point
   * hashed from its name, so that the same service tends to get the same VIP
   * even from an empty store (a re-created controller) and two services rarely
   * compete for one address.
   */
  *probe(service: string): Generator<string, void> {
    const digest = createHash("sha256").update(service).digest();
    const start = (digest.readUInt32BE(0) * 2 ** 16 + digest.readUInt16BE(4)) % this.#size;
    for (let i = 0; i < this.#size; i++) {
      const n = (start + i) % this.#size;
      if (this.#skipEnds && (n === 0 || n === this.#size - 1)) continue;
      yield toIp(this.#base + n);
    }
  }
}

function toNumber(ip: string): number {
  return ip.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
}

function toIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}
