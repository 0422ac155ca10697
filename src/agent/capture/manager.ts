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
        if (this.#matches(await this.#o.iptables.saveNat())) return;
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
        await removeCapture(this.#o.iptables);
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
      this.#status = { mode: "transparent", installed: true, outboundActive, lastError: "", lastErrorCode: "", appliedAt: new Date().toISOString() };
      const repaired = before.chains.size > 0 && !this.#matchesState(before, outboundActive);
      this.#log.info({ why, outboundActive, repaired, staleJumps: before.jumps.length }, "capture rules applied");
    } catch (err) {
      this.#fail(err, `applying the capture rules failed (${why})`);
      throw err;
    }
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
export async function removeCapture(iptables: Iptables): Promise<boolean> {
  const state = readCaptureState(await iptables.saveNat());
  if (state.chains.size === 0 && state.jumps.length === 0) return false;
  await iptables.restore(removalRestoreInput(state.jumps));
  const after = readCaptureState(await iptables.saveNat());
  if (after.chains.size > 0 || after.jumps.length > 0) throw new MeshfedError(CAPTURE_ERRORS.applyFailed, "capture rules still present after removal");
  return true;
}
