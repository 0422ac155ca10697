/**
 * Builds the agent bundle the installer puts on hosts: one ESM file
 * (meshfed-agent.mjs, every dependency inlined) plus the proto files it loads
 * at run time, and a manifest naming the version and the content hash the
 * installer compares to decide "unchanged" versus "upgrade". Why a JS bundle
 * and not a single executable: docs/installer.md.
 *
 * Run after tsc (`npm run build`): it bundles the compiled dist/src/cli/agent-entry.js.
 * esbuild is a devDependency; only the build and tests import this module.
 */
import { createHash } from "node:crypto";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { BUNDLE_FILES, type BundleManifest } from "./bundle.js";

const ENTRY = fileURLToPath(new URL("../cli/agent-entry.js", import.meta.url));
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const DEFAULT_BUNDLE_DIR = join(ROOT, "dist", "agent-bundle");

// CommonJS dependencies (grpc-js, pino) call require() for Node built-ins; an
// ESM bundle has no require, so the bundle makes one.
const REQUIRE_SHIM = 'import { createRequire as __meshfedCreateRequire } from "node:module"; const require = __meshfedCreateRequire(import.meta.url);';

export async function buildAgentBundle(outDir: string = DEFAULT_BUNDLE_DIR): Promise<BundleManifest> {
  const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [ENTRY],
    outfile: join(outDir, BUNDLE_FILES.script),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    minify: true,
    legalComments: "external",
    banner: { js: REQUIRE_SHIM },
    define: {
      MESHFED_BUNDLE_VERSION: JSON.stringify(pkg.version),
      MESHFED_BUNDLE_PROTO_FILE: JSON.stringify(`./${BUNDLE_FILES.proto}`),
    },
    logLevel: "warning",
  });
  await mkdir(join(outDir, "proto"), { recursive: true });
  await cp(join(ROOT, "proto"), join(outDir, "proto"), { recursive: true });
  const hash = createHash("sha256");
  for (const file of [BUNDLE_FILES.script, BUNDLE_FILES.proto]) hash.update(file).update("\0").update(await readFile(join(outDir, file)));
  const manifest: BundleManifest = { version: pkg.version, sha256: hash.digest("hex") };
  await writeFile(join(outDir, BUNDLE_FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const manifest = await buildAgentBundle(process.argv[2] ?? DEFAULT_BUNDLE_DIR);
  process.stdout.write(`agent bundle ${manifest.version} (${manifest.sha256.slice(0, 12)}) -> ${process.argv[2] ?? DEFAULT_BUNDLE_DIR}\n`);
}
