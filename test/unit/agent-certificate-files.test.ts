// The agent serves the service certificate to its local Pipy as codebase
// files: they follow the controller's files, change the ETag on rotation,
// and are never written into the stored config.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { ConfigApplier } from "../../src/agent/config-applier.js";
import type { ConfigFileData } from "../../src/agent/config-version.js";
import { DataDir } from "../../src/agent/data-dir.js";
import { PipyRunTracker } from "../../src/agent/repo/pipy-run.js";
import { LocalRepo } from "../../src/agent/repo/server.js";
import { silentLogger } from "../../src/common/logger.js";
import { http } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";

test("certificate files are served after the config, replace same-path files, and a rotation changes the ETag", async (t) => {
  const dir = await tempDir("meshfed-agent-");
  const dataDir = new DataDir(dir);
  await dataDir.init();
  const tracker = new PipyRunTracker();
  const repo = await LocalRepo.listen({ address: { host: "127.0.0.1", port: 0 }, tracker, logger: silentLogger(), status: () => ({}) });
  t.after(() => repo.close());
  let certs: ConfigFileData[] = [
    { path: "/certs/service.crt", content: Buffer.from("CERT-A") },
    { path: "/certs/service.key", content: Buffer.from("KEY-A") },
  ];
  const stop = new AbortController();
  t.after(() => stop.abort());
  const applier = new ConfigApplier({
    dataDir, repo, tracker, logger: silentLogger(), proxy: undefined, convergenceTimeoutMs: 1000, signal: stop.signal, attachments: () => certs,
  });
  const files = [
    { path: "/main.js", content: Buffer.from("main") },
    { path: "/config.json", content: Buffer.from("{}") },
    { path: "/certs/service.key", content: Buffer.from("FROM-CONTROLLER") },
  ];
  const result = await applier.apply({ version: 1, driver: "pipy", hash: "h1", files });
  assert.equal(result.ok, true);
  const m1 = await http(repo.url);
  assert.equal(m1.body, "/main.js\n/config.json\n/certs/service.crt\n/certs/service.key\n", "entry first, agent files last, no duplicate");
  assert.equal((await http(`${repo.url}certs/service.key`)).body, "KEY-A", "the agent's key wins over a controller file of the same path");

  applier.refreshAttachments();
  assert.equal((await http(repo.url, "HEAD")).headers.etag, m1.headers.etag, "unchanged files: same ETag, no reload");

  certs = [{ path: "/certs/service.crt", content: Buffer.from("CERT-B") }, { path: "/certs/service.key", content: Buffer.from("KEY-B") }];
  applier.refreshAttachments();
  const m2 = await http(repo.url);
  assert.notEqual(m2.headers.etag, m1.headers.etag, "rotation changes the ETag: Pipy re-downloads");
  assert.equal((await http(`${repo.url}certs/service.crt`)).body, "CERT-B");
  assert.equal(applier.good?.etag, m2.headers.etag, "the refreshed version is the good one");
  assert.equal(applier.good?.version, 1);

  const stored = await readFile(dataDir.file.goodConfig(), "utf8");
  assert.doesNotMatch(stored, new RegExp(Buffer.from("KEY-B").toString("base64")), "keys are never stored in config/good.json");
});
