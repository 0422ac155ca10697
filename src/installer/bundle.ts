/**
 * The agent bundle as the installer uses it: the files to upload and the
 * manifest whose hash decides "unchanged" versus "upgrade". Built by
 * bundle-build.ts (`npm run build`) into dist/agent-bundle.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { MeshfedError } from "../common/errors.js";

export const BUNDLE_FILES = {
  script: "meshfed-agent.mjs",
  proto: "proto/meshfed/v1/control_plane.proto",
  manifest: "manifest.json",
} as const;

const manifestSchema = z.strictObject({ version: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) });
export type BundleManifest = z.infer<typeof manifestSchema>;

export interface AgentBundle {
  readonly manifest: BundleManifest;
  /** Relative path (as laid out next to each other on the host) -> content. */
  readonly files: ReadonlyMap<string, Buffer>;
}

/** Where `npm run build` leaves the bundle (dist/agent-bundle of the package). */
export const BUILT_BUNDLE_DIR = fileURLToPath(new URL("../../agent-bundle/", import.meta.url));

export async function loadAgentBundle(dir: string = BUILT_BUNDLE_DIR): Promise<AgentBundle> {
  let manifestText: string;
  try {
    manifestText = await readFile(join(dir, BUNDLE_FILES.manifest), "utf8");
  } catch (err) {
    throw new MeshfedError("MESHFED_BUNDLE_MISSING", `no agent bundle in ${dir} (run npm run build, which bundles the agent with esbuild)`, { cause: err });
  }
  const parsed = manifestSchema.safeParse(JSON.parse(manifestText));
  if (!parsed.success) throw new MeshfedError("MESHFED_BUNDLE_INVALID", `${join(dir, BUNDLE_FILES.manifest)}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  const files = new Map<string, Buffer>();
  for (const file of [BUNDLE_FILES.script, BUNDLE_FILES.proto]) files.set(file, await readFile(join(dir, file)));
  return { manifest: parsed.data, files };
}
