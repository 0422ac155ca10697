/**
 * Enrollment by the Azure IMDS attested document (docs/azure.md "Joining
 * without a token"): the proof that replaces a join token for VMs and
 * scale-set instances the Azure provider sees. DESIGN.md §3 flow 3.
 *
 * Checks, cheapest and write-free first, the nonce spent last:
 *  1. the CMS signature, the signer's chain to a configured root, and the
 *     signer's name (signed-document.ts);
 *  2. the document's nonce is the one the agent sent;
 *  3. freshness: createdOn within `maxAge` of now (either way: a clock ahead
 *     is as suspicious as one behind), expiresOn not passed;
 *  4. the subscription is the one the Azure provider reads;
 *  5. the vmId is an instance of the provider's last read (one prompt re-read
 *     for an unknown vmId, rate limited), running, mapped to a service by its
 *     tags or a rule: the service and account come from there, never from the
 *     agent, so a compromised VM in scope can only become its own service;
 *  6. the nonce is spent (single use across replicas: attest-nonces.ts).
 * The proxy id is the vmId: one VM holds one proxy, and a new attestation of
 * the same VM replaces (revokes) the certificate it had (server.ts).
 */
import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import { errorCode, errorMessage } from "../../common/errors.js";
import type { ServiceRef } from "../../common/service.js";
import { x509 } from "../certificates/x509.js";
import type { AttestNonces } from "./attest-nonces.js";
import { parseAttestedClaims } from "./azure-document.js";
import { ATTEST_ERRORS, attestError } from "./errors.js";
import { verifySignedDocument, type TrustAnchors } from "./signed-document.js";

export interface AzureImdsSettings {
  readonly rootsFile: string;
  readonly intermediatesFile?: string | undefined;
  readonly signerNames: readonly string[];
  /** Oldest createdOn accepted, and the clock skew allowed into the future (ms). */
  readonly maxAge: number;
  /** Shortest time between two on-demand ARM reads for unknown vmIds (ms). */
  readonly refreshInterval: number;
}

export interface InventoryInstance {
  readonly vmId: string;
  /** ARM resource id. */
  readonly id: string;
  readonly running: boolean | undefined;
  readonly mapping: { readonly kind: "none" } | { readonly kind: "bad"; readonly message: string } | { readonly kind: "mapped"; readonly service: ServiceRef; readonly serviceAccount?: string };
}

/** What the Azure provider knows of VMs, seen from here (main.ts adapts the provider). */
export interface AttestationInventory {
  readonly subscriptionId: string;
  ready(): boolean;
  instance(vmId: string): InventoryInstance | undefined;
  refresh(minIntervalMs: number): Promise<void>;
}

export interface AttestedDocumentInput {
  readonly nonce: string;
  readonly encoding: string;
  readonly signature: string;
}

export interface AttestedIdentity {
  readonly proxyId: string;
  readonly vmId: string;
  readonly resourceId: string;
  readonly service: ServiceRef;
  readonly serviceAccount?: string;
}

export interface AzureImdsAttestationOptions {
  readonly settings: AzureImdsSettings;
  readonly inventory: AttestationInventory;
  readonly nonces: AttestNonces;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export class AzureImdsAttestation {
  readonly #o: AzureImdsAttestationOptions;
  readonly #now: () => Date;
  readonly #log: Logger;
  #anchors: TrustAnchors | undefined;

  constructor(options: AzureImdsAttestationOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    this.#log = options.logger.child({ component: "bootstrap/azure-imds" });
  }

  /**
   * Reads the roots (and intermediates) file. Called at start, where a
   * failure is logged and the feature answers MESHFED_ATTEST_ROOTS_UNREADABLE
   * until a later attestation finds the file readable.
   */
  async load(): Promise<void> {
    try {
      this.#anchors = await readAnchors(this.#o.settings);
      this.#log.info({ roots: this.#anchors.roots.length, intermediates: this.#anchors.intermediates.length, rootsFile: this.#o.settings.rootsFile }, "Azure IMDS attestation enabled");
    } catch (err) {
      this.#log.error({ code: errorCode(err), rootsFile: this.#o.settings.rootsFile }, `Azure IMDS attestation is off until its roots can be read: ${errorMessage(err)}`);
    }
  }

  issueNonce(): Promise<{ nonce: string; expiresAt: Date }> {
    return this.#o.nonces.issue();
  }

  async verify(doc: AttestedDocumentInput): Promise<AttestedIdentity> {
    if (this.#anchors === undefined) this.#anchors = await readAnchors(this.#o.settings);
    if (doc.encoding !== "pkcs7") throw attestError(ATTEST_ERRORS.malformed, `the attested document's encoding is "${doc.encoding.slice(0, 32)}", not "pkcs7"`);
    const now = this.#now();
    const { content } = await verifySignedDocument(doc.signature, this.#anchors, now);
    const claims = parseAttestedClaims(content);
    if (claims.nonce !== doc.nonce) throw attestError(ATTEST_ERRORS.nonceMismatch, "the document was signed over another nonce than the one sent with it");
    const { maxAge } = this.#o.settings;
    const age = now.getTime() - claims.createdOn.getTime();
    if (age > maxAge || -age > maxAge || claims.expiresOn.getTime() <= now.getTime()) {
      throw attestError(ATTEST_ERRORS.stale, `the document was created ${claims.createdOn.toISOString()} and expires ${claims.expiresOn.toISOString()}; at ${now.toISOString()} only documents within ${maxAge / 1000} s are accepted`);
    }
    const inventory = this.#o.inventory;
    if (claims.subscriptionId !== inventory.subscriptionId.toLowerCase()) {
      throw attestError(ATTEST_ERRORS.subscription, `subscription ${claims.subscriptionId} is not the one this mesh reads (providers.azure.subscriptionId)`);
    }
    if (!inventory.ready()) throw attestError(ATTEST_ERRORS.inventoryUnavailable, "this controller does not read the Azure inventory itself (a follower replica, or no successful read yet); retry");
    let instance = inventory.instance(claims.vmId);
    if (instance === undefined) {
      await inventory.refresh(this.#o.settings.refreshInterval);
      instance = inventory.instance(claims.vmId);
    }
    if (instance === undefined) throw attestError(ATTEST_ERRORS.vmUnknown, `vmId ${claims.vmId} is no VM or scale-set instance the Azure provider sees in its scope`);
    if (instance.mapping.kind === "bad") throw attestError(ATTEST_ERRORS.noService, `${instance.id} has broken mapping tags: ${instance.mapping.message}`);
    if (instance.mapping.kind === "none") throw attestError(ATTEST_ERRORS.noService, `${instance.id} has no service tag and no rule maps it`);
    if (instance.running !== true) throw attestError(ATTEST_ERRORS.vmNotRunning, `${instance.id} is not running in the last read of the inventory`);
    await this.#o.nonces.consume(doc.nonce);
    const { service, serviceAccount } = instance.mapping;
    return { proxyId: claims.vmId, vmId: claims.vmId, resourceId: instance.id, service, ...(serviceAccount === undefined ? {} : { serviceAccount }) };
  }
}

async function readAnchors(settings: AzureImdsSettings): Promise<TrustAnchors> {
  const certs = async (file: string): Promise<x509.X509Certificate[]> => {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      throw attestError(ATTEST_ERRORS.rootsUnreadable, `cannot read ${file}: ${errorMessage(err)}`, err);
    }
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    try {
      return blocks.map((b) => new x509.X509Certificate(b));
    } catch (err) {
      throw attestError(ATTEST_ERRORS.rootsUnreadable, `${file} holds a certificate that cannot be parsed: ${errorMessage(err)}`, err);
    }
  };
  const fromRoots = await certs(settings.rootsFile);
  const roots = fromRoots.filter((c) => c.subject === c.issuer);
  if (roots.length === 0) throw attestError(ATTEST_ERRORS.rootsUnreadable, `${settings.rootsFile} holds no self-signed (root) certificate`);
  const intermediates = [...fromRoots.filter((c) => c.subject !== c.issuer), ...(settings.intermediatesFile === undefined ? [] : await certs(settings.intermediatesFile))];
  return { roots, intermediates, signerNames: settings.signerNames };
}
