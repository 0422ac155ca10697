/** `meshfed ca status` and `meshfed ca rotate --step ...`: root CA rotation through the admin API. */
import type { Argv } from "yargs";
import type { CaRotationStatus } from "../../controller/certificates/index.js";
import { adminClientOptions, adminGet, adminPost } from "../admin-client.js";
import { adminOptions, outputOption, printResult, type OutputFormat } from "../output.js";

interface CommonArgs {
  output: OutputFormat;
  admin?: string;
  adminTokenFile?: string;
}

const STEPS = ["introduce", "reissue", "retire"] as const;

function table(s: CaRotationStatus): { header: string[]; rows: string[][]; footer: string } {
  const lines = [`phase: ${s.phase}; next step: ${s.nextStep}`];
  if (s.retired) lines.push(`retired root ${s.retired.serial} at ${s.retired.retiredAt}`);
  if (s.stragglerCount > 0) {
    lines.push(`${s.stragglerCount} live certificate(s) still chain to the outgoing root:`);
    for (const c of s.stragglers) lines.push(`  ${c.kind} ${c.serial} ${c.service}${c.proxyId ? ` proxy ${c.proxyId}` : ""} (${c.state})`);
  }
  return {
    header: ["ROOT", "ROLE", "SIGNS", "NOT AFTER", "PROXY", "SERVICE", "CONTROLLER"],
    rows: s.roots.map((r) => [r.serial, r.role, r.signing ? "yes" : "no", r.notAfter, String(r.liveCertificates.proxy), String(r.liveCertificates.service), String(r.liveCertificates.controller)]),
    footer: lines.join("\n"),
  };
}

export function caCommand(yargs: Argv) {
  return yargs.command("ca", "the mesh's root CA and its rotation", (y) =>
    y
      .command<CommonArgs>(
        "status",
        "the roots, their roles, the live certificates under each, and the rotation phase",
        (y2) => y2.option("output", outputOption).options(adminOptions),
        async (argv) => {
          const body = (await adminGet(adminClientOptions(argv), "api/v1/ca/rotation")) as CaRotationStatus;
          printResult(argv.output, body, () => table(body));
        },
      )
      .command<CommonArgs & { step: (typeof STEPS)[number]; force: boolean }>(
        "rotate",
        "take one rotation step: introduce (new root in every bundle), reissue (new root signs; certificates renewed), retire (old root removed)",
        (y2) =>
          y2.option("step", { choices: STEPS, demandOption: true, describe: "the step to take; they run in this order" })
            .option("force", { type: "boolean", default: false, describe: "retire even though live certificates still chain to the old root (they are revoked)" })
            .option("output", outputOption)
            .options(adminOptions),
        async (argv) => {
          const body = (await adminPost(adminClientOptions(argv), "api/v1/ca/rotation", { action: argv.step, force: argv.force })) as CaRotationStatus;
          printResult(argv.output, body, () => table(body));
        },
      )
      .demandCommand(1, "name a ca subcommand: status, rotate"),
  );
}
