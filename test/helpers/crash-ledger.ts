/**
 * What the crash worker (crash-worker.ts) reported as done, accumulated over
 * all iterations of the crash-consistency test, and the invariants the data
 * directory must satisfy after every SIGKILL.
 */
import assert from "node:assert/strict";
import { X509Certificate, createHash, createPrivateKey } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { DataDir } from "../../src/agent/data-dir.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { JoinTokens } from "../../src/controller/proxy-control-plane/join-tokens.js";
import { FileStore } from "../../src/controller/store/file-store.js";
import { captureLogger } from "./certificates.js";

interface TokenLedger {
  readonly service: string;
  readonly uses: number;
  consumed: number;
  refundsStarted: number;
}

export class CrashLedger {
  readonly issued = new Map<string, string>();
  readonly claimed = new Set<string>();
  readonly revoked = new Set<string>();
  readonly tokens = new Map<string, TokenLedger>();
  caPem: string | undefined;
  /** The agent's service certificate on disk must be the last saved one or the one being saved. */
  agentCertDone: string | undefined;
  agentCertInFlight: string | undefined;
  agentConfigDone = 0;
  /** Temp files of interrupted atomic writes found by the last check. */
  tempFiles = 0;

  /** Applies one complete stdout line of the worker. */
  apply(line: string): void {
    const [what, a, b, c] = line.split(" ");
    switch (what) {
      case "token": this.tokens.set(a!, { service: b!, uses: Number(c), consumed: 0, refundsStarted: 0 }); break;
      case "consumed": this.#token(a!).consumed++; break;
      case "refund-start": this.#token(a!).refundsStarted++; break;
      case "issued": this.issued.set(b!, a!); break;
      case "claimed": this.claimed.add(a!); break;
      case "revoked": this.revoked.add(a!); break;
      case "agent-cert-start": this.agentCertInFlight = a; break;
      case "agent-cert": this.agentCertDone = a; this.agentCertInFlight = undefined; break;
      case "agent-config": this.agentConfigDone = Number(a); break;
      case "ready": break;
      default: throw new Error(`unknown worker line "${line}"`);
    }
  }

  #token(id: string): TokenLedger {
    const t = this.tokens.get(id);
    assert.ok(t, `worker reported a use of token ${id} it never reported creating`);
    return t;
  }

  /** Re-opens everything with the real components and checks every invariant; `where` prefixes failures. */
  async check(dir: string, where: string): Promise<void> {
    this.tempFiles = await assertNoTornFile(dir, where);
    const store = await FileStore.open(join(dir, "controller"));
    const { logger, lines } = captureLogger();
    const manager = await createCertificateManager({ store, logger });
    const errors = lines.filter((l) => typeof l.code === "string");
    assert.deepEqual(errors.map((l) => l.code), [], `${where}: the registry loads without a corrupt record`);
    this.caPem ??= manager.caBundle();
    assert.equal(manager.caBundle(), this.caPem, `${where}: the CA was never re-keyed`);

    for (const [serial, kind] of this.issued) {
      assert.equal(manager.certificate(serial)?.kind, kind, `${where}: issued ${kind} certificate ${serial} is in the registry`);
    }
    for (const serial of this.claimed) {
      assert.ok(["claimed", "revoked"].includes(manager.certificate(serial)?.state ?? ""), `${where}: claimed ${serial} stays claimed`);
    }
    for (const serial of this.revoked) assert.equal(manager.certificate(serial)?.state, "revoked", `${where}: revoked ${serial} stays revoked`);
    for (const { key, value } of await store.list("service-certificates")) {
      const { certificatePem } = JSON.parse(Buffer.from(value).toString("utf8")) as { certificatePem: string };
      const serial = new X509Certificate(certificatePem).serialNumber.toLowerCase();
      assert.ok(manager.certificate(serial), `${where}: ${key} holds ${serial}, which the registry knows (registry first)`);
    }

    const corrupt: string[] = [];
    const tokens = await JoinTokens.load({ store }, (key) => corrupt.push(key));
    assert.deepEqual(corrupt, [], `${where}: every token record parses`);
    const proxyCerts = new Map<string, number>();
    for (const r of manager.certificates()) if (r.kind === "proxy") proxyCerts.set(r.service, (proxyCerts.get(r.service) ?? 0) + 1);
    const stored = new Map(tokens.list().map((t) => [t.id, t]));
    for (const t of stored.values()) {
      // A certificate exists only for a use that is on record: never consumed-but-unused.
      assert.ok((proxyCerts.get(t.service) ?? 0) <= t.used, `${where}: token ${t.id} shows ${t.used} use(s) but ${proxyCerts.get(t.service)} certificate(s) for ${t.service}`);
      assert.ok(t.used <= t.uses, `${where}: token ${t.id} used ${t.used} of ${t.uses}`);
    }
    for (const [id, t] of this.tokens) {
      const record = stored.get(id);
      assert.ok(record, `${where}: token ${id} reported created is stored`);
      assert.ok(record.used >= t.consumed - t.refundsStarted, `${where}: token ${id}: ${t.consumed} reported consumption(s), ${t.refundsStarted} refund(s), ${record.used} on record`);
    }
    await this.#agentState(dir, where);
  }

  async #agentState(dir: string, where: string): Promise<void> {
    const state = await new DataDir(join(dir, "agent")).load();
    const c = state.serviceCertificate;
    if (this.agentCertDone !== undefined || c !== undefined) {
      assert.ok(c, `${where}: the agent's service certificate survived`);
      const cert = new X509Certificate(c.certificatePem);
      assert.equal(cert.serialNumber.toLowerCase(), c.serial, `${where}: the agent's service certificate and its metadata belong together`);
      assert.ok(cert.checkPrivateKey(createPrivateKey(c.privateKeyPem)), `${where}: the agent's service key matches its certificate`);
      assert.ok([this.agentCertDone, this.agentCertInFlight].includes(c.serial), `${where}: the agent holds ${c.serial}, not the last saved ${this.agentCertDone} or the one being saved ${this.agentCertInFlight}`);
      this.agentCertDone = c.serial;
      this.agentCertInFlight = undefined;
    }
    if (this.agentConfigDone > 0) {
      assert.ok((state.goodConfig?.version ?? 0) >= this.agentConfigDone, `${where}: good config v${state.goodConfig?.version} older than the saved v${this.agentConfigDone}`);
    }
  }
}

/**
 * Every file under `dir` that is not an atomic write's temp file (a dot
 * file) parses as what its name says: whole PEM, whole JSON, or, for the
 * agent's content-addressed files (`files/<sha256>`), bytes that hash to
 * their name. Returns the number of temp files seen.
 */
export async function assertNoTornFile(dir: string, where: string): Promise<number> {
  let tempFiles = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const name = relative(dir, path);
    if (entry.name.startsWith(".")) {
      tempFiles++;
      continue;
    }
    if (/^[0-9a-f]{64}$/.test(entry.name) && relative(dir, entry.parentPath).split("/").at(-1) === "files") {
      const bytes = await readFile(path);
      assert.equal(createHash("sha256").update(bytes).digest("hex"), entry.name, `${where}: ${name} is whole (its sha256 is its name)`);
      continue;
    }
    const text = await readFile(path, "utf8");
    if (entry.name.endsWith(".pem")) {
      assert.match(text, /^-----BEGIN [A-Z ]+-----\n[\s\S]+\n-----END [A-Z ]+-----\n?$/, `${where}: ${name} is whole PEM`);
      if (text.includes("CERTIFICATE-----")) new X509Certificate(text);
      else createPrivateKey(text);
    } else if (entry.name === "admin-token") {
      assert.match(text, /^\S+\n$/, `${where}: ${name} is whole`);
    } else {
      assert.doesNotThrow(() => JSON.parse(text), `${where}: ${name} is whole JSON`);
    }
  }
  return tempFiles;
}
