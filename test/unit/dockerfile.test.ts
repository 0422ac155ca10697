// The Dockerfile cannot be built here (no container runtime): this checks
// what can be checked without one, against the repository and the output of
// `npm run build` (which `npm test` runs first).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { CONTROLLER_MALLOC_ENV } from "../../src/controller/malloc-env.js";

const ROOT = join(import.meta.dirname, "..", "..", "..");
const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
const instructions = dockerfile.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));

test("every path the Dockerfile copies exists: sources in the repository, build outputs after npm run build", () => {
  const copies = instructions.filter((l) => l.startsWith("COPY "));
  assert.ok(copies.length > 5);
  for (const line of copies) {
    const parts = line.split(/\s+/).slice(1);
    const fromBuild = parts[0] === "--from=build";
    const sources = (fromBuild ? parts.slice(1) : parts).slice(0, -1);
    for (const source of sources) {
      // The build stage works in /src: a copy out of it names a path of the repository after the build.
      const path = fromBuild ? source.replace(/^\/src\//, "") : source;
      if (fromBuild && path === "node_modules") continue; // npm ci's output, present wherever tests run
      assert.ok(existsSync(join(ROOT, path)), `Dockerfile: ${line}: ${path} does not exist`);
    }
  }
});

test("the image runs meshfed's CLI as the non-root user the Deployment expects", () => {
  const entry = /^ENTRYPOINT \["node", "\/opt\/meshfed\/(.+)"\]$/m.exec(instructions.join("\n"));
  assert.ok(entry, "ENTRYPOINT runs node on a file under /opt/meshfed");
  assert.ok(existsSync(join(ROOT, entry[1]!)), `${entry[1]} exists after the build`);
  assert.equal(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).bin.meshfed, entry[1]);
  const user = /^USER (\d+):(\d+)$/m.exec(instructions.join("\n"));
  assert.ok(user && user[1] !== "0", "a numeric, non-root USER");
  const deployment = parseAllDocuments(readFileSync(join(ROOT, "config", "kubernetes", "deployment.yaml"), "utf8"))[0]!.toJS() as {
    spec: { template: { spec: { securityContext: { runAsUser: number }; containers: Array<{ args: string[]; securityContext: { readOnlyRootFilesystem: boolean } }> } } };
  };
  const pod = deployment.spec.template.spec;
  assert.equal(String(pod.securityContext.runAsUser), user[1]);
  assert.equal(pod.containers[0]!.securityContext.readOnlyRootFilesystem, true);
  const cmd = /^CMD (\[.*\])$/m.exec(instructions.join("\n"));
  assert.deepEqual(JSON.parse(cmd![1]!), pod.containers[0]!.args);
});

test("the runtime stage sets the controller's malloc environment, the one the bench measures", () => {
  const stages = instructions.join("\n").split(/^FROM /m);
  const runtime = stages[stages.length - 1]!;
  const env = new Map<string, string>();
  for (const match of runtime.matchAll(/^ENV ([A-Za-z_][A-Za-z0-9_]*)=(\S+)$/gm)) env.set(match[1]!, match[2]!);
  assert.ok(Object.keys(CONTROLLER_MALLOC_ENV).length > 0);
  for (const [name, value] of Object.entries(CONTROLLER_MALLOC_ENV)) {
    assert.equal(env.get(name), value, `Dockerfile: the runtime stage sets ENV ${name}=${value}`);
  }
});
