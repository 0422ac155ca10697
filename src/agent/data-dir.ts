/**
 * The agent's data directory: everything it must survive a restart with,
 * each file written atomically (temp + fsync + rename) so that a SIGKILL or a
 * power cut leaves the old content or the new one, never a torn file.
 * Layout (documented in agents/README.md):
 *
 *   state.json            proxy id, service, enrolledAt
 *   token-probes.json     health probes the join token declared (absent: none); a file of
 *                         its own so that state.json stays readable by older agents
 *   proxy-key.pem         0600  P-256 key of the proxy certificate (never leaves the host)
 *   proxy-cert.pem              proxy certificate from Enroll
 *   proxy-identity.json   0600  key and certificate from a renewal (CA rotation) in ONE
 *                               file: the commit point; when present it wins over the
 *                               two files above, which are rewritten after it as copies
 *   ca.pem                      CA bundle from the controller (replaces --ca-file once received)
 *   service/certificate.json 0600  service certificate, key, bundle and dates: ONE
 *                               file, so a crash never pairs a key with another certificate
 *   service/cert.pem            copies for operators (openssl, curl); the agent
 *   service/key.pem       0600  reads certificate.json, and these only when it is
 *                               missing (a data directory from an older agent)
 *   (service/ca.pem             written by older agents, read only with their layout,
 *                               removed at the next service certificate)
 *   service/meta.json           serial, notAfter, renewAt
 *   config/received.json        last config version received (written before anything else)
 *   config/good.json            last config version the proxy ran (= last ACK)
 *   trust-failure.json          present while the controller and the agent do not share a CA
 *                               (ca-mismatch.ts); read by the installer, removed once connected
 *   dns/names.json              last mesh name table received (the DNS answers from it
 *                               through controller outages and agent restarts)
 *   files/<sha256>        0600  shared files (the Pipy codebase) by content hash
 *                               (file-cache.ts), checked against the name on every use
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { chmod, mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { removeStaleTempFiles, writeFileAtomic } from "../common/atomic-file.js";
import { MeshfedError } from "../common/errors.js";
import { parseServiceKey, serviceKey, type ServiceRef } from "../common/service.js";
import { healthProbesSchema, type HealthProbe } from "../common/health-probe.js";
import { parseStoredConfig, serializeConfig, type ConfigVersionData } from "./config-version.js";

export interface Enrollment {
  readonly proxyId: string;
  readonly service: ServiceRef;
  readonly enrolledAt: string;
  /** Health probes the join token declared (docs/agent.md, "Health probes"); absent: none. */
  readonly probes?: readonly HealthProbe[];
}

export interface ServiceCertificateData {
  readonly serial: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly caBundlePem: string;
  readonly notAfter: string;
  readonly renewAt: string;
}

export interface StoredState {
  readonly enrollment?: Enrollment;
  readonly keyPem?: string;
  readonly certPem?: string;
  readonly caPem?: string;
  readonly serviceCertificate?: ServiceCertificateData;
  readonly goodConfig?: ConfigVersionData;
}

const stateSchema = z.strictObject({
  proxyId: z.string().min(1),
  service: z.string().transform((s, ctx) => {
    try {
      return parseServiceKey(s);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
      return z.NEVER;
    }
  }),
  enrolledAt: z.string(),
});

const serviceMetaSchema = z.strictObject({ serial: z.string(), notAfter: z.string(), renewAt: z.string() });
const serviceCertificateSchema = serviceMetaSchema.extend({ certificatePem: z.string().min(1), privateKeyPem: z.string().min(1), caBundlePem: z.string() });

const proxyIdentitySchema = z.strictObject({ keyPem: z.string().min(1), certificatePem: z.string().min(1) });

const SECRET = 0o600;
const PUBLIC = 0o644;

export class DataDir {
  constructor(readonly path: string) {}

  readonly file = {
    state: () => join(this.path, "state.json"),
    tokenProbes: () => join(this.path, "token-probes.json"),
    key: () => join(this.path, "proxy-key.pem"),
    cert: () => join(this.path, "proxy-cert.pem"),
    proxyIdentity: () => join(this.path, "proxy-identity.json"),
    ca: () => join(this.path, "ca.pem"),
    serviceBundle: () => join(this.path, "service", "certificate.json"),
    serviceCert: () => join(this.path, "service", "cert.pem"),
    serviceKey: () => join(this.path, "service", "key.pem"),
    serviceCa: () => join(this.path, "service", "ca.pem"),
    serviceMeta: () => join(this.path, "service", "meta.json"),
    receivedConfig: () => join(this.path, "config", "received.json"),
    goodConfig: () => join(this.path, "config", "good.json"),
    trustFailure: () => join(this.path, "trust-failure.json"),
    meshNames: () => join(this.path, "dns", "names.json"),
    /** Shared files by sha256 (file-cache.ts): the Pipy codebase, sent once per agent. */
    sharedFiles: () => join(this.path, "files"),
    /** The running Pipy (pid, start time), for the start after a kill -9 (stale-proxy.ts). */
    pipyPid: () => join(this.path, "pipy.pid"),
  };

  /** Creates the directory (0700: it holds keys) if missing; sweeps what crashed writes left. */
  async init(): Promise<void> {
    await mkdir(this.path, { recursive: true, mode: 0o700 });
    await chmod(this.path, 0o700).catch(() => undefined);
    await removeStaleTempFiles(this.path);
  }

  async load(): Promise<StoredState> {
    const [stateText, renewed, keyFile, certFile, caPem, goodText] = await Promise.all([
      readOptional(this.file.state()),
      this.#loadProxyIdentity(),
      readOptional(this.file.key()),
      readOptional(this.file.cert()),
      readOptional(this.file.ca()),
      readOptional(this.file.goodConfig()),
    ]);
    let enrollment: Enrollment | undefined;
    if (stateText !== undefined) {
      const parsed = stateSchema.safeParse(parseJson(stateText, this.file.state()));
      if (!parsed.success) throw invalid(this.file.state(), parsed.error.issues[0]?.message);
      const probesText = await readOptional(this.file.tokenProbes());
      const probes = probesText === undefined ? undefined : healthProbesSchema.safeParse(parseJson(probesText, this.file.tokenProbes()));
      if (probes !== undefined && !probes.success) throw invalid(this.file.tokenProbes(), probes.error.issues[0]?.message);
      enrollment = { ...parsed.data, ...(probes?.data !== undefined && probes.data.length > 0 ? { probes: probes.data } : {}) };
    }
    const keyPem = renewed?.keyPem ?? keyFile;
    const certPem = renewed?.certificatePem ?? certFile;
    return {
      ...(enrollment !== undefined ? { enrollment } : {}),
      ...(keyPem !== undefined ? { keyPem } : {}),
      ...(certPem !== undefined ? { certPem } : {}),
      ...(caPem !== undefined ? { caPem } : {}),
      ...(goodText !== undefined ? { goodConfig: parseStoredConfig(goodText, this.file.goodConfig()) } : {}),
      ...(await this.#loadServiceCertificate()),
    };
  }

  async #loadProxyIdentity(): Promise<z.infer<typeof proxyIdentitySchema> | undefined> {
    const text = await readOptional(this.file.proxyIdentity());
    if (text === undefined) return undefined;
    const parsed = proxyIdentitySchema.safeParse(parseJson(text, this.file.proxyIdentity()));
    if (!parsed.success) throw invalid(this.file.proxyIdentity(), parsed.error.issues[0]?.message);
    return parsed.data;
  }

  async #loadServiceCertificate(): Promise<{ serviceCertificate?: ServiceCertificateData }> {
    const bundle = await readOptional(this.file.serviceBundle());
    if (bundle !== undefined) {
      const parsed = serviceCertificateSchema.safeParse(parseJson(bundle, this.file.serviceBundle()));
      if (!parsed.success) throw invalid(this.file.serviceBundle(), parsed.error.issues[0]?.message);
      return { serviceCertificate: parsed.data };
    }
    return this.#loadLegacyServiceCertificate();
  }

  /**
   * The four files older agents wrote one after the other: a crash between
   * two writes leaves a key beside another key's certificate, which Pipy
   * would fail on. Such a mix is dropped; the controller's next push repairs it.
   */
  async #loadLegacyServiceCertificate(): Promise<{ serviceCertificate?: ServiceCertificateData }> {
    const [cert, key, ca, meta] = await Promise.all([
      readOptional(this.file.serviceCert()),
      readOptional(this.file.serviceKey()),
      readOptional(this.file.serviceCa()),
      readOptional(this.file.serviceMeta()),
    ]);
    if (cert === undefined || key === undefined || meta === undefined) return {};
    const parsed = serviceMetaSchema.safeParse(parseJson(meta, this.file.serviceMeta()));
    if (!parsed.success) throw invalid(this.file.serviceMeta(), parsed.error.issues[0]?.message);
    if (!keyMatches(cert, key, parsed.data.serial)) return {};
    return { serviceCertificate: { ...parsed.data, certificatePem: cert, privateKeyPem: key, caBundlePem: ca ?? "" } };
  }

  saveKey(pem: string): Promise<void> {
    return writeFileAtomic(this.file.key(), pem, SECRET);
  }

  /** Certificate first, state.json last: state.json present means the enrollment is complete. */
  async saveEnrollment(e: Enrollment, certPem: string, caPem: string): Promise<void> {
    // A renewal left by an earlier enrollment must not win over this one.
    await rm(this.file.proxyIdentity(), { force: true });
    await writeFileAtomic(this.file.cert(), certPem, PUBLIC);
    if (caPem !== "") await writeFileAtomic(this.file.ca(), caPem, PUBLIC);
    // Before state.json, the commit point; none left from an earlier enrollment when this token declares none.
    if (e.probes !== undefined && e.probes.length > 0) await writeFileAtomic(this.file.tokenProbes(), JSON.stringify(e.probes, null, 2) + "\n", PUBLIC);
    else await rm(this.file.tokenProbes(), { force: true });
    await writeFileAtomic(this.file.state(), JSON.stringify({ proxyId: e.proxyId, service: serviceKey(e.service), enrolledAt: e.enrolledAt }, null, 2) + "\n", PUBLIC);
  }

  /**
   * A renewed proxy key and certificate: proxy-identity.json is the commit
   * point (a crash before it keeps the old pair, after it the new pair); the
   * PEM files after it are copies for people and older tools.
   */
  async saveProxyIdentity(keyPem: string, certificatePem: string): Promise<void> {
    await writeFileAtomic(this.file.proxyIdentity(), JSON.stringify({ keyPem, certificatePem }, null, 2) + "\n", SECRET);
    await writeFileAtomic(this.file.key(), keyPem, SECRET);
    await writeFileAtomic(this.file.cert(), certificatePem, PUBLIC);
  }

  saveCaBundle(pem: string): Promise<void> {
    return writeFileAtomic(this.file.ca(), pem, PUBLIC);
  }

  /** certificate.json is the commit point; the PEM copies after it are for people. */
  async saveServiceCertificate(c: ServiceCertificateData): Promise<void> {
    const { serial, certificatePem, privateKeyPem, caBundlePem, notAfter, renewAt } = c;
    await writeFileAtomic(this.file.serviceBundle(), JSON.stringify({ serial, certificatePem, privateKeyPem, caBundlePem, notAfter, renewAt }, null, 2) + "\n", SECRET);
    await writeFileAtomic(this.file.serviceKey(), c.privateKeyPem, SECRET);
    await writeFileAtomic(this.file.serviceCert(), c.certificatePem, PUBLIC);
    // No service/ca.pem any more: nothing read it (Pipy gets the stream's bundle,
    // ca.pem, as /certs/ca.pem), and written once per service certificate it
    // still listed a root retired since (issue 23). An older agent's copy goes.
    await rm(this.file.serviceCa(), { force: true });
    await writeFileAtomic(this.file.serviceMeta(), JSON.stringify({ serial: c.serial, notAfter: c.notAfter, renewAt: c.renewAt }, null, 2) + "\n", PUBLIC);
  }

  /** A verdict for the installer (which polls the host, not the agent's loopback status). */
  saveTrustFailure(failure: object): Promise<void> {
    return writeFileAtomic(this.file.trustFailure(), JSON.stringify(failure, null, 2) + "\n", PUBLIC);
  }

  clearTrustFailure(): Promise<void> {
    return rm(this.file.trustFailure(), { force: true });
  }

  saveReceivedConfig(c: ConfigVersionData): Promise<void> {
    return writeFileAtomic(this.file.receivedConfig(), serializeConfig(c), PUBLIC);
  }

  /** The raw table; the DNS validates it (dns/name-table.ts) on load as on receipt. */
  async loadMeshNames(): Promise<unknown> {
    const text = await readOptional(this.file.meshNames());
    return text === undefined ? undefined : parseJson(text, this.file.meshNames());
  }

  saveMeshNames(table: unknown): Promise<void> {
    return writeFileAtomic(this.file.meshNames(), JSON.stringify(table) + "\n", PUBLIC);
  }

  saveGoodConfig(c: ConfigVersionData): Promise<void> {
    return writeFileAtomic(this.file.goodConfig(), serializeConfig(c), PUBLIC);
  }
}

/** Whether the key belongs to the certificate and the certificate has the recorded serial. */
function keyMatches(certificatePem: string, privateKeyPem: string, serial: string): boolean {
  try {
    const cert = new X509Certificate(certificatePem);
    return cert.serialNumber.toLowerCase() === serial.toLowerCase() && cert.checkPrivateKey(createPrivateKey(privateKeyPem));
  } catch {
    return false;
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new MeshfedError("MESHFED_AGENT_STATE_UNREADABLE", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalid(file, (err as Error).message);
  }
}

function invalid(file: string, message: string | undefined): MeshfedError {
  return new MeshfedError("MESHFED_AGENT_STATE_INVALID", `${file}: ${message ?? "invalid"}`, { details: { file } });
}
