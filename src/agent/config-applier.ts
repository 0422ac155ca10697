/**
 * From a received ConfigVersion to an ACK or NACK (issue 3, agent side 5–6):
 *
 *   1. validate (NACK at once if malformed: nothing is stored or served);
 *   2. write it to config/received.json atomically — before anything else;
 *   3. without a proxy: write config/good.json, serve it, ACK;
 *   4. with a proxy: serve it (one reference swap), push `reload` over the
 *      admin link, and wait until Pipy reports running its ETag
 *      (repo/pipy-run.ts). Then write config/good.json and ACK.
 *   5. No convergence within the timeout: serve the last good version again
 *      (Pipy polls, sees the old ETag and returns to it) and NACK with what
 *      Pipy last complained about.
 *
 * A newer version arriving while an older one waits supersedes it: the older
 * one is NACKed as superseded and the newer one is served.
 */
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { toServed, type ConfigFileData, type ConfigVersionData, type ServedVersion } from "./config-version.js";
import type { DataDir } from "./data-dir.js";
import type { LocalRepo } from "./repo/server.js";
import type { PipyRunTracker } from "./repo/pipy-run.js";

export interface ApplyResult {
  readonly version: number;
  readonly hash: string;
  readonly ok: boolean;
  readonly error: string;
}

export interface ProxyHooks {
  /** A version is now served: start the proxy if it is not running yet, push `reload`. */
  readonly served: () => void;
  /** Something to quote when the proxy does not converge. */
  readonly describeFailure: () => string | undefined;
}

export interface ConfigApplierOptions {
  readonly dataDir: DataDir;
  readonly repo: LocalRepo;
  readonly tracker: PipyRunTracker;
  readonly logger: Logger;
  /** undefined: --no-proxy, a version is good once stored. */
  readonly proxy: ProxyHooks | undefined;
  readonly convergenceTimeoutMs: number;
  readonly signal: AbortSignal;
  /** Files the agent adds to every served version (certificates for the local Pipy). */
  readonly attachments?: () => readonly ConfigFileData[];
}

export class ConfigApplier {
  readonly #o: ConfigApplierOptions;
  #good: ServedVersion | undefined;
  /** The version last handed to the repo, as received (without attachments). */
  #served: ConfigVersionData | undefined;
  #waiting: AbortController | undefined;
  #generation = 0;

  constructor(options: ConfigApplierOptions) {
    this.#o = options;
  }

  /** The last version the proxy ran (or, without a proxy, the last stored). */
  get good(): ServedVersion | undefined {
    return this.#good;
  }

  /** Serves the last good version loaded from disk, before any controller answers. */
  restore(c: ConfigVersionData): void {
    this.#good = this.#toServed(c);
    this.#served = c;
    this.#o.repo.serve(this.#good);
    this.#o.logger.info({ configVersion: c.version, hash: c.hash }, "serving the last good config from disk");
    this.#o.proxy?.served();
  }

  async apply(c: ConfigVersionData): Promise<ApplyResult> {
    const nack = (error: string): ApplyResult => ({ version: c.version, hash: c.hash, ok: false, error });
    const ack = (): ApplyResult => ({ version: c.version, hash: c.hash, ok: true, error: "" });
    let served: ServedVersion;
    try {
      served = this.#toServed(c);
    } catch (err) {
      this.#o.logger.warn({ configVersion: c.version, err: errorMessage(err) }, "config version refused");
      return nack(errorMessage(err));
    }
    const generation = ++this.#generation;
    this.#waiting?.abort();
    this.#waiting = undefined;
    await this.#o.dataDir.saveReceivedConfig(c);
    if (generation !== this.#generation) return nack(`superseded by a newer version before it was served`);

    const good = this.#good;
    if (this.#o.proxy === undefined || (good !== undefined && good.etag === served.etag && this.#o.tracker.isRunning(served.etag))) {
      // Without a proxy, stored is good; with one, identical bytes that already run need no reload.
      await this.#o.dataDir.saveGoodConfig(c);
      this.#good = served;
      this.#served = c;
      this.#o.repo.serve(served);
      this.#o.logger.info({ configVersion: c.version, hash: c.hash }, "config version stored");
      return ack();
    }

    this.#o.repo.serve(served);
    this.#served = c;
    this.#o.proxy.served();
    const wait = new AbortController();
    this.#waiting = wait;
    const signal = AbortSignal.any([wait.signal, this.#o.signal]);
    const ok = await this.#o.tracker.waitFor(served.etag, this.#o.convergenceTimeoutMs, signal);
    if (this.#waiting === wait) this.#waiting = undefined;
    if (ok) {
      await this.#o.dataDir.saveGoodConfig(c);
      if (generation === this.#generation) this.#good = served;
      this.#o.logger.info({ configVersion: c.version, hash: c.hash, etag: served.etag }, "proxy runs the new config version");
      return ack();
    }
    if (generation !== this.#generation) return nack("superseded by a newer version before the proxy ran it");
    if (this.#o.signal.aborted) return nack("agent stopping before the proxy ran it");
    // Back to the last good version: the proxy polls, sees the old ETag and returns to it.
    this.#o.repo.serve(this.#good);
    this.#served = this.#good;
    if (this.#good !== undefined) this.#o.proxy.served();
    const why = this.#o.proxy.describeFailure();
    const error = `the proxy did not run version ${c.version} within ${this.#o.convergenceTimeoutMs} ms${why !== undefined ? `: ${why}` : ""}`;
    this.#o.logger.warn({ configVersion: c.version, hash: c.hash, keptVersion: this.#good?.version }, error);
    return nack(error);
  }

  /**
   * The attachments changed (a certificate rotation): serve the same version
   * again with the new files. Its ETag changes, so Pipy downloads and reloads;
   * a reload keeps the old workers draining their connections, so no request
   * in flight is dropped. Not persisted: good.json never holds keys.
   */
  refreshAttachments(): void {
    const current = this.#served;
    if (current === undefined) return;
    const served = this.#toServed(current);
    if (this.#o.repo.current?.etag === served.etag) return;
    if (this.#good !== undefined && this.#good.version === current.version && this.#good.hash === current.hash) this.#good = served;
    this.#o.repo.serve(served);
    this.#o.logger.info({ configVersion: current.version, etag: served.etag }, "served files changed (certificates); the proxy reloads");
    this.#o.proxy?.served();
  }

  #toServed(c: ConfigVersionData): ServedVersion {
    return toServed(c, this.#o.attachments?.() ?? []);
  }
}
