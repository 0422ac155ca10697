/** Shared fixtures for test/unit/agent-*.test.ts: temp dirs, configs, HTTP helpers, polling. */
import { writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { agentConfig, type AgentConfig, type AgentConfigInput } from "../../src/agent/config.js";

/** A config for tests: port 0 everywhere, fast backoff, no proxy unless asked. */
export async function testConfig(dir: string, caPem: string, controller: string, overrides: Partial<AgentConfigInput> = {}): Promise<AgentConfig> {
  const caFile = join(dir, "ca.pem");
  const tokenFile = join(dir, "token");
  await writeFile(caFile, caPem);
  await writeFile(tokenFile, "good-token\n");
  return agentConfig({
    controller,
    caFile,
    tokenFile,
    dataDir: join(dir, "data"),
    repoAddress: "127.0.0.1:0",
    hostAddresses: ["127.0.0.2"],
    endpoints: ["127.0.0.2:8080"],
    backoff: { base: "20ms", cap: "200ms", stableAfter: "1s" },
    healthInterval: "30s",
    ...overrides,
    // No drain delay unless a test asks for one: every graceful stop of an agent with a Pipy would wait it.
    proxy: { enabled: false, adminAddress: "127.0.0.1:0", drainDelay: "0s", ...overrides.proxy },
  });
}

export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export function http(url: string, method = "GET", body?: string, agent?: import("node:http").Agent): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ...(agent ? { agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}


export function configMessage(version: number, files: Record<string, string>, driver = "json") {
  return { config: { version, driver, hash: `hash-${version}`, files: Object.entries(files).map(([path, content]) => ({ path, content: Buffer.from(content) })) } };
}
