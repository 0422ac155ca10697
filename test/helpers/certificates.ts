/**
 * Shared fixtures for the certificates-*.test.ts files: an in-memory
 * StateStore (a hand-written fake of our own interface), a temp FileStore,
 * a settable clock, a log capture and real CSRs built with @peculiar/x509
 * the way an agent builds them. Not a test file itself.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { webcrypto } from "node:crypto";
import type { TestContext } from "node:test";
import { pino } from "pino";
import type { Logger } from "../../src/common/logger.js";
import { FileStore } from "../../src/controller/store/file-store.js";
import { sameBytes, type PutOptions, type StateStore, type StoreChange } from "../../src/controller/store/types.js";
import type { ProxyIdentity } from "../../src/controller/certificates/types.js";

export const crypto = webcrypto;
export type KeyPair = webcrypto.CryptoKeyPair;

export class MemoryStore implements StateStore {
  readonly kind = "memory";
  readonly data = new Map<string, { value: Uint8Array; secret: boolean }>();
  readonly #watchers = new Set<{ prefix: string; fn: (change: StoreChange) => void }>();
  /** Writes of any kind (put, create, compareAndPut) that changed data. */
  puts = 0;

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.data.get(key)?.value;
  }
  async put(key: string, value: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    this.#set(key, value, options);
  }
  async create(key: string, value: Uint8Array | string, options: PutOptions = {}): Promise<boolean> {
    if (this.data.has(key)) return false;
    this.#set(key, value, options);
    return true;
  }
  async compareAndPut(key: string, expected: Uint8Array, value: Uint8Array | string, options: PutOptions = {}): Promise<boolean> {
    const current = this.data.get(key);
    if (current === undefined || !sameBytes(current.value, expected)) return false;
    this.#set(key, value, options);
    return true;
  }
  async delete(key: string): Promise<void> {
    if (this.data.delete(key)) this.#emit({ key, value: undefined });
  }
  async list(prefix: string): Promise<Array<{ key: string; value: Uint8Array }>> {
    return [...this.data.entries()]
      .filter(([k]) => k.startsWith(`${prefix}/`) && !k.slice(prefix.length + 1).includes("/"))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, { value }]) => ({ key, value }));
  }
  async watch(prefix: string, fn: (change: StoreChange) => void, signal: AbortSignal): Promise<void> {
    const watcher = { prefix, fn };
    this.#watchers.add(watcher);
    signal.addEventListener("abort", () => this.#watchers.delete(watcher), { once: true });
  }
  async close(): Promise<void> {}
  #set(key: string, value: Uint8Array | string, options: PutOptions): void {
    this.puts++;
    const bytes = typeof value === "string" ? Buffer.from(value) : value;
    this.data.set(key, { value: bytes, secret: options.secret === true });
    this.#emit({ key, value: bytes });
  }
  #emit(change: StoreChange): void {
    for (const w of this.#watchers) if (change.key.startsWith(`${w.prefix}/`) && !change.key.slice(w.prefix.length + 1).includes("/")) w.fn(change);
  }
}

export async function tempFileStore(t: TestContext): Promise<{ dir: string; store: FileStore }> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-certs-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  return { dir, store: await FileStore.open(dir) };
}

/** A clock tests move by hand. */
export class Clock {
  #ms: number;
  constructor(start = Date.parse("2030-01-01T00:00:00Z")) {
    this.#ms = start;
  }
  readonly now = (): Date => new Date(this.#ms);
  advance(ms: number): void {
    this.#ms += ms;
  }
}

/** A pino logger whose JSON lines land in `lines`. */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

export const TRUST_DOMAIN = "cluster.local";

export const identity: ProxyIdentity = {
  proxyId: "3f2a6c1e-8b1d-4c2e-9a7f-0d1e2f3a4b5c",
  kind: "agent",
  service: { namespace: "shop", name: "bookstore" },
};
export const EXPECTED_URI = `spiffe://${TRUST_DOMAIN}/ns/shop/svc/bookstore/proxy/${identity.proxyId}`;
export const EXPECTED_CN = `${identity.proxyId}.agent.bookstore.shop.${TRUST_DOMAIN}`;

export async function p256(): Promise<KeyPair> {
  return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
}

export interface CsrOptions {
  keys?: KeyPair;
  name?: string;
  extensions?: x509.Extension[];
  signingAlgorithm?: Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]["signingAlgorithm"];
}

/** A CSR as the agent builds it: fresh P-256 key, CN and SPIFFE URI SAN of its identity. */
export async function makeCsr(options: CsrOptions = {}): Promise<string> {
  const keys = options.keys ?? (await p256());
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      ...(options.name === undefined ? { name: `CN=${EXPECTED_CN}` } : options.name === "" ? {} : { name: options.name }),
      keys,
      signingAlgorithm: options.signingAlgorithm ?? { name: "ECDSA", hash: "SHA-256" },
      extensions: options.extensions ?? [new x509.SubjectAlternativeNameExtension([{ type: "url", value: EXPECTED_URI }])],
    },
    crypto,
  );
  return csr.toString("pem");
}

export { x509 };
