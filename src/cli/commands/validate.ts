/**
 * `meshfed validate FILE...`: offline checks of hosts files, mesh manifests
 * (SMI objects and osm-edge's policy kinds Egress, IngressBackend,
 * UpstreamTrafficSetting, Retry; files or directories) and controller
 * configs, with the same parsers the controller uses, so "valid here" means
 * "accepted there". The report kind "smi" means "a manifest file", whichever
 * mesh kinds it holds (the JSON field is kept for scripts).
 */
import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { isScalar, parseAllDocuments } from "yaml";
import type { Argv } from "yargs";
import { MeshfedError, errorCode, errorMessage } from "../../common/errors.js";
import { MAX_YAML_ALIASES } from "../../common/yaml-input.js";
import { parseControllerConfig } from "../../controller/config/load.js";
import { parseHostsFile } from "../../controller/providers/onprem/index.js";
import { parseSmiManifests, type SmiObject } from "../../controller/spec/smi-parse.js";
import { resolveMeshSpec } from "../../controller/spec/smi-validate.js";

type InputKind = "hosts" | "smi" | "config";

export interface ValidationReport {
  readonly file: string;
  readonly kind: InputKind;
  readonly errors: ReadonlyArray<{ code: string; message: string }>;
  /** SMI files only: Kubernetes objects of other kinds (Service, Deployment...) passed over. */
  readonly skipped?: number;
  /** Manifest files only, when there are any: fields accepted and not enforced (MESHFED_POLICY_NOT_ENFORCED); not errors. */
  readonly notes?: ReadonlyArray<{ code: string; message: string }>;
}

export const VALIDATE_NO_KIND = "MESHFED_VALIDATE_NO_KIND";

/**
 * What a YAML file is, decided from each document's content: any document
 * that looks like a Kubernetes object (apiVersion or kind) makes the file a
 * manifest file, read by the SMI parser, which names a document without a
 * kind and passes over non-mesh kinds; otherwise one document is a hosts file
 * (top-level `hosts`) or a controller config. Several documents without any
 * kind fit nothing: that is a named error, not a guess whose parser would
 * then complain about the second document.
 */
export function detectKind(text: string, file = "input"): InputKind | MeshfedError {
  const docs = [...parseAllDocuments(text)].filter((d) => d.contents !== null && !(isScalar(d.contents) && d.contents.value === null));
  // A syntax error is reported by whichever parser reads the file; the SMI
  // parser does it per document, with positions, so a broken multi-document
  // file goes there.
  if (docs.length > 1 && docs.some((d) => d.errors.length > 0)) return "smi";
  const values = docs.map((d): unknown => {
    try {
      return d.toJS({ maxAliasCount: MAX_YAML_ALIASES });
    } catch {
      return null;
    }
  });
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (values.some((v) => isObject(v) && ("apiVersion" in v || "kind" in v))) return "smi";
  if (docs.length > 1) {
    return new MeshfedError(VALIDATE_NO_KIND, `${file}: ${docs.length} YAML documents and none has a kind: several documents are read as Kubernetes manifests (apiVersion, kind, metadata and spec in each, such as SMI policies); a hosts file or a controller config is a single document`, {
      details: { file, documents: docs.length },
    });
  }
  if (isObject(values[0]) && "hosts" in values[0]) return "hosts";
  return "config";
}

async function expand(path: string): Promise<Array<{ file: string; forcedSmi: boolean }>> {
  const info = await stat(path);
  if (!info.isDirectory()) return [{ file: path, forcedSmi: false }];
  const names = (await readdir(path)).filter((n) => /\.ya?ml$/i.test(n)).sort();
  return names.map((n) => ({ file: join(path, n), forcedSmi: true }));
}

export async function validateInputs(paths: readonly string[], forced?: InputKind): Promise<ValidationReport[]> {
  const reports: ValidationReport[] = [];
  const smiObjects: SmiObject[] = [];
  const smiReports = new Map<string, Array<{ code: string; message: string }>>();
  for (const path of paths) {
    let entries: Array<{ file: string; forcedSmi: boolean }>;
    try {
      entries = await expand(path);
    } catch (err) {
      reports.push({ file: path, kind: forced ?? "config", errors: [{ code: "MESHFED_FILE_NOT_FOUND", message: `cannot read ${path}: ${errorMessage(err)}` }] });
      continue;
    }
    for (const { file, forcedSmi } of entries) {
      const text = await readFile(file, "utf8");
      const kind = forced ?? (forcedSmi ? "smi" : detectKind(text, file));
      if (kind instanceof MeshfedError) {
        // Reported as a manifest file: several documents are only ever that.
        reports.push({ file, kind: "smi", errors: [toEntry(kind)] });
        continue;
      }
      if (kind === "smi") {
        const parsed = parseSmiManifests(text, file);
        smiObjects.push(...parsed.objects);
        const errors = parsed.errors.map(toEntry);
        smiReports.set(file, errors);
        reports.push({ file, kind, errors, skipped: parsed.skipped.length, ...(parsed.notes.length === 0 ? {} : { notes: parsed.notes.map(toEntry) }) });
        continue;
      }
      const errors: Array<{ code: string; message: string }> = [];
      try {
        if (kind === "hosts") parseHostsFile(text, file);
        else parseControllerConfig(text, file);
      } catch (err) {
        errors.push(...expandIssues(err));
      }
      reports.push({ file, kind, errors });
    }
  }
  // Cross-object checks (route and match references, duplicates, host
  // conflicts) over every manifest file given together.
  for (const err of resolveMeshSpec(smiObjects).errors) {
    const file = typeof err.details.file === "string" ? err.details.file : undefined;
    const list = (file !== undefined ? smiReports.get(file) : undefined) ?? [...smiReports.values()][0];
    list?.push(toEntry(err));
  }
  return reports;
}

function toEntry(err: unknown): { code: string; message: string } {
  return { code: errorCode(err), message: errorMessage(err) };
}

/** A MeshfedError may carry every issue of a file in details.issues; list them all. */
function expandIssues(err: unknown): Array<{ code: string; message: string }> {
  if (err instanceof MeshfedError && Array.isArray(err.details.issues) && err.details.issues.length > 1) {
    return (err.details.issues as Array<{ code: string; message: string; file: string; line: number; column: number }>).map((i) => ({
      code: i.code,
      message: `${i.file}:${i.line}:${i.column}: ${i.message}`,
    }));
  }
  return [toEntry(err)];
}

export function validateCommand(yargs: Argv) {
  return yargs.command<{ files: string[]; kind?: InputKind; output: "text" | "json" }>(
    "validate <files..>",
    "check hosts files, SMI and policy manifests (files or directories) and controller configs offline",
    (y) =>
      y
        .positional("files", { type: "string", array: true, demandOption: true, describe: "files, or directories of SMI and policy manifests" })
        .option("kind", { choices: ["hosts", "smi", "config"] as const, describe: "treat every file as this kind instead of guessing" })
        .option("output", { alias: "o", choices: ["text", "json"] as const, default: "text" as const }),
    async (argv) => {
      const reports = await validateInputs(argv.files, argv.kind);
      const failed = reports.filter((r) => r.errors.length > 0);
      if (argv.output === "json") process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
      else {
        for (const r of reports) {
          if (r.errors.length === 0) process.stdout.write(`ok    ${r.file} (${r.kind})\n`);
          else for (const e of r.errors) process.stdout.write(`error ${e.code} ${e.message}\n`);
          for (const n of r.notes ?? []) process.stdout.write(`note  ${n.code} ${n.message}\n`);
        }
        const skipped = reports.reduce((n, r) => n + (r.skipped ?? 0), 0);
        if (skipped > 0) process.stdout.write(`skipped ${skipped} non-mesh object${skipped === 1 ? "" : "s"}\n`);
        process.stdout.write(`${reports.length - failed.length} valid, ${failed.length} invalid\n`);
      }
      if (failed.length > 0) process.exitCode = 1;
    },
  );
}
