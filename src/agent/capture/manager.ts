/**
 * The agent's traffic capture on a VM (DESIGN.md §3 flow 6, docs/dataplane.md
 * "Capture"): it owns the nat chains MESHFED_OUTPUT and MESHFED_INBOUND and
 * their two jumps, and nobody else writes them.
 *
 * - Every change is one `iptables-restore --noflush` transaction built from
 *   what the table holds right now, so a set is never half-written, an apply
 *   after a crash (kill -9 leaves the rules) repairs whatever it finds, and
 *   applying twice equals applying once.
 * - Inbound fails closed: its jump stays in place whatever Pipy does, so a
 *   plaintext client never reaches the app while the proxy is down.
 * - Outbound fails open: `setOutbound(false)` takes only the OUTPUT jump away
 *   while Pipy is not ready, so the host's own connections keep working.
 * - After each change the table is read back and our chains compared line by
 *   line with what was meant: `status().installed` is a fact, not a hope.
 */
import { captureRestoreInput, INBOUND_CHAIN, OUTPUT_CHAIN, readCaptureState, removalRestoreInput, inboundChainRules, outputChainRules, type CaptureRuleOptions } from "../../common/capture-rules.js";
import { inbound6Matches, inbound6RemovalInput, inbound6RestoreInput, readInbound6State } from "../../common/capture-rules-ipv6.js";
import { errorCode, errorMessage, MeshfedError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { SerialQueue } from "../../common/serial-queue.js";
import { CAPTURE_ERRORS, type Iptables } from "./iptables.js";

export interface CaptureStatus {
  readonly mode: "none" | "transparent";
  /** Both chains hold exactly our rules and PREROUTING jumps into MESHFED_INBOUND once. */
  readonly installed: boolean;
  /** OUTPUT jumps into MESHFED_OUTPUT once (false while Pipy is not ready: fail-open). */
  readonly outboundActive: boolean;
  readonly lastError: string;
  readonly lastErrorCode: string;
  /** When the rules were last written or found drifted and repaired (ISO), "" before. */
  readonly appliedAt: string;
}

export const CAPTURE_NONE: CaptureStatus = { mode: "none", installed: false, outboundActive: false, lastError: "", lastErrorCode: "", appliedAt: "" };

export interface CaptureManagerOptions {
  readonly rules: CaptureRuleOptions;
  readonly iptables: Iptables;
  /** ip6tables for the IPv6 inbound guard (capture-rules-ipv6.ts); absent: no guard (tests of the IPv4 set alone). */
  readonly ip6tables?: Iptables;
  readonly logger: Logger;
}

export class CaptureManager {
  readonly #o: CaptureManagerOptions;
  readonly #log: Logger;
  readonly #queue = new SerialQueue();
  #wantOutbound = false;
  #removed = false;
  #status: CaptureStatus = { ...CAPTURE_NONE, mode: "transparent" };

  constructor(options: CaptureManagerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "capture" });
  }

  status(): CaptureStatus {
    return this.#status;
  }

  /** Installs (or repairs) the whole set; the OUTPUT jump only when `outboundActive`. Throws a named error. */
  install(outboundActive: boolean): Promise<void> {
    this.#wantOutbound = outboundActive;
    this.#removed = false;
    return this.#queue.run(() => this.#apply("install"));
  }

  /** Adds or takes away the OUTPUT jump; errors are logged and kept in the status, never thrown. */
  setOutbound(active: boolean): Promise<void> {
    if (active === this.#wantOutbound) return Promise.resolve();
    this.#wantOutbound = active;
    return this.#queue.run(async () => {
      if (this.#removed) return;
      await this.#apply(active ? "outbound on: proxy ready" : "outbound off: proxy not ready (fail-open)").catch(() => undefined);
    });
  }

  /** Reads the table and re-applies when someone changed our chains or jumps (a firewall reload, an admin). */
  check(): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#removed) return;
      try {
        if (this.#matches(await this.#o.iptables.saveNat()) && (await this.#ipv6Guarded())) return;
      } catch (err) {
        this.#fail(err, "reading the nat table failed");
        return;
      }
      this.#log.warn({ code: "MESHFED_CAPTURE_DRIFT" }, "capture rules changed behind the agent's back; re-applying");
      await this.#apply("repair").catch(() => undefined);
    });
  }

  /** Deletes exactly the jumps and chains of ours; the table is then as it was before install. */
  remove(): Promise<void> {
    this.#removed = true;
    return this.#queue.run(async () => {
      try {
        await removeCapture(this.#o.iptables, this.#o.ip6tables);
        this.#status = { ...this.#status, installed: false, outboundActive: false, lastError: "", lastErrorCode: "" };
        this.#log.info("capture rules removed");
      } catch (err) {
        this.#fail(err, "removing the capture rules failed");
        throw err;
      }
    });
  }

  async #apply(why: string): Promise<void> {
    const outboundActive = this.#wantOutbound;
    try {
      const before = readCaptureState(await this.#o.iptables.saveNat());
      await this.#o.iptables.restore(captureRestoreInput(this.#o.rules, { outboundActive, staleJumps: before.jumps }));
      const after = await this.#o.iptables.saveNat();
      if (!this.#matches(after)) {
        throw new MeshfedError(CAPTURE_ERRORS.applyFailed, "the nat table read back after iptables-restore does not hold the capture rules as written");
      }
      await this.#applyIpv6();
      this.#status = { mode: "transparent", installed: true, outboundActive, lastError: "", lastErrorCode: "", appliedAt: new Date().toISOString() };
      const repaired = before.chains.size > 0 && !this.#matchesState(before, outboundActive);
      this.#log.info({ why, outboundActive, repaired, staleJumps: before.jumps.length }, "capture rules applied");
    } catch (err) {
      this.#fail(err, `applying the capture rules failed (${why})`);
      throw err;
    }
  }

  /**
   * The IPv6 inbound guard. A host without IPv6 (ip6tables cannot run, and no
   * address but loopback) needs none; a host with IPv6 that cannot be guarded
   * is a named error: the app's mesh ports would be open in plaintext there.
   */
  async #applyIpv6(): Promise<void> {
    const ip6 = this.#o.ip6tables;
    if (ip6 === undefined) return;
    const save = await this.#saveIpv6(ip6);
    if (save === undefined) return;
    const before = readInbound6State(save);
    if (inbound6Matches(before, this.#o.rules)) return;
    await ip6.restore(inbound6RestoreInput(this.#o.rules, before.jumps));
    if (!inbound6Matches(readInbound6State(await ip6.save("filter")), this.#o.rules)) {
      throw new MeshfedError(CAPTURE_ERRORS.applyFailed, "the ip6tables filter table read back after ip6tables-restore does not hold the IPv6 inbound guard as written");
    }
  }

  /** The ip6tables filter table, or undefined on a host without IPv6. */
  async #saveIpv6(ip6: Iptables): Promise<string | undefined> {
    try {
      return await ip6.save("filter");
    } catch (err) {
      if (!(await ip6.hasIpv6())) return undefined;
      throw new MeshfedError(CAPTURE_ERRORS.ipv6Unguarded, `this host has IPv6 addresses but ip6tables cannot be used (${errorMessage(err)}): an app listening on :: would answer other hosts in plaintext over IPv6, around the mesh. Install ip6tables (Debian/Ubuntu: the iptables package), or disable IPv6 on the host`, { cause: err });
    }
  }

  async #ipv6Guarded(): Promise<boolean> {
    const ip6 = this.#o.ip6tables;
    if (ip6 === undefined) return true;
    const save = await this.#saveIpv6(ip6).catch(() => "");
    return save === undefined || inbound6Matches(readInbound6State(save), this.#o.rules);
  }

  #matches(save: string): boolean {
    return this.#matchesState(readCaptureState(save), this.#wantOutbound);
  }

  #matchesState(s: ReturnType<typeof readCaptureState>, outboundActive: boolean): boolean {
    const same = (a: readonly string[] | undefined, b: readonly string[]) => a !== undefined && a.length === b.length && a.every((l, i) => l === b[i]);
    return s.chains.has(INBOUND_CHAIN) && s.chains.has(OUTPUT_CHAIN)
      && s.inboundJumps === 1 && s.outputJumps === (outboundActive ? 1 : 0) && s.jumps.length === s.inboundJumps + s.outputJumps
      && same(s.rules.get(INBOUND_CHAIN), inboundChainRules(this.#o.rules))
      && same(s.rules.get(OUTPUT_CHAIN), outputChainRules(this.#o.rules));
  }

  #fail(err: unknown, what: string): void {
    this.#status = { ...this.#status, installed: false, lastError: errorMessage(err), lastErrorCode: errorCode(err) };
    this.#log.error({ err: errorMessage(err), code: errorCode(err) }, what);
  }
}

/**
 * Deletes our jumps (each one found, however many) and both chains in one
 * transaction, then checks that nothing of ours is left. Needs no rule
 * options: `meshfed agent cleanup` runs it without a config. False when there
 * was nothing to remove.
 */
export async function removeCapture(iptables: Iptables, ip6tables?: Iptables): Promise<boolean> {
  const removed6 = ip6tables === undefined ? false : await removeIpv6Guard(ip6tables);
  const state = readCaptureState(await iptables.saveNat());
  if (state.chains.size === 0 && state.jumps.length === 0) return removed6;
  await iptables.restore(removalRestoreInput(state.jumps));
  const after = readCaptureState(await iptables.saveNat());
  if (after.chains.size > 0 || after.jumps.length > 0) throw new MeshfedError(CAPTURE_ERRORS.applyFailed, "capture rules still present after removal");
  return true;
}

/** Deletes the IPv6 inbound guard; nothing to do (false) where ip6tables cannot run: it cannot hold ours either. */
async function removeIpv6Guard(ip6tables: Iptables): Promise<boolean> {
  let save: string;
  try {
    save = await ip6tables.save("filter");
  } catch {
    return false;
  }
  const state = readInbound6State(save);
  if (!state.chain && state.jumps.length === 0) return false;
  await ip6tables.restore(inbound6RemovalInput(state.jumps));
  const after = readInbound6State(await ip6tables.save("filter"));
  if (after.chain || after.jumps.length > 0) throw new MeshfedError(CAPTURE_ERRORS.applyFailed, "the IPv6 inbound guard is still present after removal");
  return true;
}
