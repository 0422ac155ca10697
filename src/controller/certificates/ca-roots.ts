/**
 * The roots this replica trusts and signs with, as named by the rotation
 * state (rotation-state.ts). Every replica follows `ca/rotation.json` through
 * the store's watch and reloads: the replica that ran a step and the others
 * end up with the same signer and the same bundle, and listeners (the agent
 * port, the pushes to proxies) hear about it once per change.
 */
import { Listeners } from "../../common/emitter.js";
import { SerialQueue } from "../../common/serial-queue.js";
import { sameBytes, type StateStore } from "../store/types.js";
import { CertificateAuthority, FIRST_ROOT, CA_COMMON_NAME, type CaOptions } from "./ca.js";
import { CA_ROTATION_KEY, parseRotationState, phaseOf, ROOTS_DIR, type RotationPhase, type RotationState, type StoredRotation } from "./rotation-state.js";

export type RootRole = "current" | "next" | "retiring";

/** One root as the admin API shows it. */
export interface RootInfo {
  readonly serial: string;
  readonly commonName: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly role: RootRole;
  /** True for the one root that signs new certificates. */
  readonly signing: boolean;
}

export interface CaRootsChange {
  readonly phase: RotationPhase;
  readonly bundlePem: string;
  /** The signing root changed: certificates under the other root are due for replacement. */
  readonly signerChanged: boolean;
}

export class CaRoots {
  readonly #options: CaOptions;
  readonly #queue = new SerialQueue();
  readonly #changes = new Listeners<CaRootsChange>();
  #stored: StoredRotation = { state: undefined, bytes: undefined };
  /** The established root (`state.root`, or the first root). */
  #root!: CertificateAuthority;
  /** The incoming root while a rotation runs. */
  #next: CertificateAuthority | undefined;

  private constructor(options: CaOptions) {
    this.#options = options;
  }

  /**
   * Loads the roots the stored state names (creating the first root on a
   * first start); with `signal`, follows the state until it aborts. The watch
   * starts before the read so that a step taken in between is not missed.
   */
  static async load(options: CaOptions, signal?: AbortSignal): Promise<CaRoots> {
    const roots = new CaRoots(options);
    if (signal) {
      await options.store.watch("ca", (change) => {
        if (change.key === CA_ROTATION_KEY) void roots.reload().catch((err: unknown) => options.logger.error({ err, code: "MESHFED_CA_RELOAD_FAILED" }, "reloading the root CAs failed; keeping the previous ones"));
      }, signal);
    }
    await roots.reload();
    return roots;
  }

  get phase(): RotationPhase {
    return phaseOf(this.#stored.state);
  }

  /** The state and its stored bytes, for a compare-and-put. */
  get stored(): StoredRotation {
    return this.#stored;
  }

  get store(): StateStore {
    return this.#options.store;
  }

  /** Signs every new certificate: the incoming root once reissuing has started. */
  get signer(): CertificateAuthority {
    return this.phase === "reissuing" && this.#next !== undefined ? this.#next : this.#root;
  }

  /** The established root (being replaced while a rotation runs). */
  get root(): CertificateAuthority {
    return this.#root;
  }

  get next(): CertificateAuthority | undefined {
    return this.#next;
  }

  /** Every root a proxy must trust now, the signing one first. */
  get bundlePem(): string {
    const other = this.signer === this.#root ? this.#next : this.#root;
    return other === undefined ? this.signer.pem : `${this.signer.pem.trimEnd()}\n${other.pem}`;
  }

  roots(): RootInfo[] {
    const info = (ca: CertificateAuthority, role: RootRole): RootInfo => ({
      serial: ca.serial, commonName: ca.certificate.subjectName.getField("CN")[0] ?? "", notBefore: ca.certificate.notBefore.toISOString(),
      notAfter: ca.notAfter.toISOString(), role, signing: ca === this.signer,
    });
    if (this.#next === undefined) return [info(this.#root, "current")];
    return this.phase === "reissuing" ? [info(this.#next, "current"), info(this.#root, "retiring")] : [info(this.#root, "current"), info(this.#next, "next")];
  }

  on(fn: (change: CaRootsChange) => void): () => void {
    // A throwing listener must not stop the others, nor fail the step that was already stored.
    return this.#changes.add((change) => {
      try {
        fn(change);
      } catch (err) {
        this.#options.logger.error({ err }, "root CA change listener failed");
      }
    });
  }

  /** Creates (or, after an interrupted step, loads) a new root under `ca/roots/<id>`. */
  async createRoot(id: string): Promise<CertificateAuthority> {
    return CertificateAuthority.open(this.#options, { dir: `${ROOTS_DIR}/${id}`, commonName: `${CA_COMMON_NAME} ${id}` });
  }

  /** Re-reads the state and the roots it names; listeners hear of a change. Serialised. */
  reload(): Promise<void> {
    return this.#queue.run(async () => {
      const bytes = await this.#options.store.get(CA_ROTATION_KEY);
      const unchanged = bytes === undefined ? this.#stored.bytes === undefined : this.#stored.bytes !== undefined && sameBytes(bytes, this.#stored.bytes);
      if (unchanged && this.#root !== undefined) return;
      const state = bytes === undefined ? undefined : parseRotationState(bytes);
      const { root, next } = await this.#open(state);
      const before = this.#root === undefined ? undefined : { signer: this.signer.serial, bundle: this.bundlePem };
      this.#stored = { state, bytes };
      this.#root = root;
      this.#next = next;
      this.#options.logger.info({ phase: this.phase, signer: this.signer.serial, roots: this.roots().map((r) => `${r.serial}:${r.role}`) }, "root CAs loaded");
      if (before === undefined) return;
      const change = { phase: this.phase, bundlePem: this.bundlePem, signerChanged: before.signer !== this.signer.serial };
      this.#changes.emit(change);
    });
  }

  async #open(state: RotationState | undefined): Promise<{ root: CertificateAuthority; next: CertificateAuthority | undefined }> {
    // Roots named by the state were stored before the state named them.
    if (state === undefined) return { root: await CertificateAuthority.open(this.#options, FIRST_ROOT), next: undefined };
    const location = (dir: string) => ({ dir, commonName: dir === FIRST_ROOT.dir ? CA_COMMON_NAME : `${CA_COMMON_NAME} ${dir.slice(ROOTS_DIR.length + 1)}` });
    const root = this.#root?.dir === state.root ? this.#root : await CertificateAuthority.open(this.#options, location(state.root), true);
    const next = state.next === undefined ? undefined : this.#next?.dir === state.next ? this.#next : await CertificateAuthority.open(this.#options, location(state.next), true);
    return { root, next };
  }
}
