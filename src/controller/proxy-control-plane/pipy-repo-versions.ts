/**
 * What the Pipy repo serves one proxy: the driver's render of its ProxyView
 * plus the service certificate files, frozen into one immutable version with
 * an ETag over every path and byte. Pipy re-downloads only when the ETag
 * changes, so the ETag must move with any file, the certificate included.
 *
 * Versions are cached per proxy and rebuilt lazily: a catalog change only
 * bumps a generation number (no mesh-wide re-render at change time), and a
 * poll renders again only if the generation or the service certificate's
 * serial moved. Polls of an unchanged proxy cost a map lookup.
 */
import type { ServiceRef } from "../../common/service.js";
import type { MeshCatalog } from "../catalog/catalog.js";
import type { CertificateManager } from "../certificates/types.js";
import { hashConfigFiles } from "../drivers/config-hash.js";
import type { ConfigFile, SidecarDriver } from "../drivers/types.js";
import { unpooledBuffer, unpooledUtf8 } from "../../common/unpooled-bytes.js";

/** Paths the Pipy driver's scripts read (drivers/pipy CERT_PATHS), served only over mTLS to the proxy itself. */
export const CERT_FILES = { cert: "/certs/service.crt", key: "/certs/service.key", ca: "/certs/ca.pem" } as const;
const CERT_PATH_SET = new Set<string>(Object.values(CERT_FILES));

export interface RepoVersion {
  readonly proxyId: string;
  /** Quoted strong ETag: sha256 over every path and content, length-prefixed. */
  readonly etag: string;
  /** One path per line, entry script first. */
  readonly manifest: string;
  readonly byPath: ReadonlyMap<string, Buffer>;
  readonly driverHash: string;
  readonly certificateSerial: string;
}

interface Cached {
  readonly generation: number;
  readonly version: RepoVersion;
}

export interface RepoVersionsOptions {
  readonly catalog: Pick<MeshCatalog, "proxyView" | "proxyIdentity">;
  readonly driver: SidecarDriver;
  readonly certificates: Pick<CertificateManager, "serviceCertificate" | "caBundle">;
  /** Cached versions kept at most (proxies that stopped polling fall out). */
  readonly maxCached?: number;
  /**
   * The addresses a proxy's pod has (the Kubernetes pod cache); its inbound is
   * then only the endpoints on them. Without it, no address filter.
   */
  readonly addresses?: (proxyId: string) => readonly string[];
}

export class RepoVersions {
  readonly #o: RepoVersionsOptions;
  readonly #cache = new Map<string, Cached>();
  #generation = 0;

  constructor(options: RepoVersionsOptions) {
    this.#o = options;
  }

  /** The catalog changed: every cached version is stale (re-rendered on its next poll). */
  invalidate(): void {
    this.#generation++;
    this.#cache.clear();
  }

  forget(proxyId: string): void {
    this.#cache.delete(proxyId);
  }

  get size(): number {
    return this.#cache.size;
  }

  async current(proxyId: string, service: ServiceRef): Promise<RepoVersion> {
    // With a pod cache, a sidecar's inbound is its own pod's endpoints only: it
    // cannot listen on other pods' addresses. A pod not yet known gets no
    // inbound; the EndpointSlice that adds its address changes the catalog,
    // which invalidates this version.
    const addresses = this.#o.addresses?.(proxyId);
    // Pods always capture: the injector's init container installs the rules (docs/dataplane.md "Capture in pods").
    const input = { proxyId, service, capture: "transparent" as const, ...(addresses === undefined ? {} : { addresses }) };
    // The pod's identity is the ServiceAccount its endpoints run as; the
    // certificate is that account's. Cached by the manager until its renewal
    // point; a renewal (or a new account) shows as a new serial.
    const { identity } = this.#o.catalog.proxyIdentity(input);
    const cert = await this.#o.certificates.serviceCertificate({ namespace: identity.namespace, name: identity.name });
    const hit = this.#cache.get(proxyId);
    const generation = this.#generation;
    if (hit !== undefined && hit.generation === generation && hit.version.certificateSerial === cert.serial) return hit.version;
    const config = this.#o.driver.render(this.#o.catalog.proxyView(input));
    // Kept as long as the cached version: buffers of their own, since a pool slice would keep its 8 KiB slab resident as long (common/unpooled-bytes.ts).
    const certFiles: ConfigFile[] = [
      { path: CERT_FILES.cert, content: unpooledUtf8(cert.certificatePem) },
      { path: CERT_FILES.key, content: unpooledUtf8(cert.privateKeyPem) },
      { path: CERT_FILES.ca, content: unpooledUtf8(cert.caBundlePem !== "" ? cert.caBundlePem : this.#o.certificates.caBundle()) },
    ];
    // The driver's files keep their order (entry first); ours replace any of the same path.
    const podFiles = this.#o.driver.podFiles?.() ?? [];
    const extra = new Set([...CERT_PATH_SET, ...podFiles.map((f) => f.path)]);
    const files = [...config.files.filter((f) => !extra.has(f.path)), ...podFiles.filter((f) => !CERT_PATH_SET.has(f.path)), ...certFiles];
    const version: RepoVersion = Object.freeze({
      proxyId,
      etag: `"${hashConfigFiles(files)}"`,
      manifest: files.map((f) => f.path).join("\n") + "\n",
      // Shared (frozen) files as views, not copies: rendered content is immutable, and the driver's scripts are then held once,
      // not once per cached proxy. The proxy's own files are copied into buffers of their own, for the reason above.
      byPath: new Map(files.map((f) => [f.path, Object.isFrozen(f) ? Buffer.from(f.content.buffer, f.content.byteOffset, f.content.byteLength) : ownedCopy(f.content)])),
      driverHash: config.hash,
      certificateSerial: cert.serial,
    });
    // Rendered synchronously after the last await: it reflects this generation exactly.
    this.#cache.delete(proxyId);
    if (this.#cache.size >= (this.#o.maxCached ?? 100_000)) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(proxyId, { generation, version });
    return version;
  }
}

/** `bytes` in a buffer of its own, unless they already are one (the cert files above). */
function ownedCopy(bytes: Uint8Array): Buffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return Buffer.from(bytes.buffer, 0, bytes.byteLength);
  const out = unpooledBuffer(bytes.byteLength);
  out.set(bytes);
  return out;
}
