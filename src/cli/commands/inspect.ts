/** `meshfed catalog`, `meshfed participants`, `meshfed certs list`: read views of a running controller. */
import type { Argv } from "yargs";
import type { CatalogSnapshot, EndpointHealthView, IncompleteParticipant, Leg, ParticipantsReport } from "../../controller/catalog/types.js";
import { formatHostPort } from "../../common/address.js";
import { adminClientOptions, adminGet, adminPost } from "../admin-client.js";
import { adminOptions, outputOption, printResult, type OutputFormat } from "../output.js";

interface CommonArgs {
  output: OutputFormat;
  admin?: string;
  adminTokenFile?: string;
}

export function catalogCommand(yargs: Argv) {
  return yargs.command<CommonArgs>(
    "catalog",
    "show the merged catalog: services, endpoints and where each was seen; conflicts",
    (y) => y.option("output", outputOption).options(adminOptions),
    async (argv) => {
      const body = (await adminGet(adminClientOptions(argv), "api/v1/catalog")) as CatalogSnapshot;
      printResult(argv.output, body, () => ({
        header: ["SERVICE", "ENDPOINT", "PROTOCOL", "ACCOUNT", "SOURCES", "HEALTH"],
        rows: body.services.flatMap((s) =>
          s.endpoints.length === 0
            ? [[`${s.namespace}/${s.name}`, "(none)", "", "", "", ""]]
            : s.endpoints.map((e) => [`${s.namespace}/${s.name}`, formatHostPort({ host: e.ip, port: e.port }), e.protocol, e.serviceAccount, e.sources.join(","), healthCell(e.health)]),
        ),
        footer: [
          body.conflicts.length === 0
            ? ""
            : `\n${body.conflicts.length} conflict(s):\n` +
              body.conflicts
                .map((c) => `  ${formatHostPort({ host: c.ip, port: c.port })} claimed by ${c.claims.map((k) => `${k.service} (${k.sources.join(",")})`).join(" and ")}; kept by ${c.winner} (${c.resolution})`)
                .join("\n"),
          // Absent in answers from controllers that predate protocols and accounts.
          (body.disagreements ?? []).length === 0
            ? ""
            : `\n${body.disagreements.length} disagreement(s):\n` +
              body.disagreements
                .map((d) => `  ${d.service} ${formatHostPort({ host: d.ip, port: d.port })} ${d.field}: ${d.claims.map((k) => `${k.value} (${k.sources.join(",")})`).join(" vs ")}; ${d.winner} kept (${d.resolution})`)
                .join("\n"),
        ].join("") || undefined,
      }));
    },
  );
}

/**
 * "-" when no probe guards the endpoint; the state, and for an unhealthy one
 * why (it is offered to no caller: docs/agent.md, "Health probes").
 */
export function healthCell(h: EndpointHealthView | undefined): string {
  if (h === undefined) return "-";
  return h.state === "unhealthy" ? `unhealthy (${h.reason})` : h.state;
}

const EXPLAIN: Record<Leg, string> = {
  issued: "no live proxy certificate for this service: enroll an agent for it with a join token bound to the service",
  connected: "no proxy is connected for it: start the agent on that host, or check its logs for why it cannot reach the controller (in a pod: the meshfed-proxy container's log; sidecars count as connected for 15 s after a repo poll)",
  discovered: "no provider reports an endpoint for it: add the host to the hosts file, or check `meshfed catalog` and the provider status",
};

export function participantsCommand(yargs: Argv) {
  return yargs.command<CommonArgs & { explain: boolean }>(
    "participants",
    "show mesh participants (issued ∩ connected ∩ discovered) and what every other member lacks",
    (y) => y.option("output", outputOption).option("explain", { type: "boolean", default: false, describe: "say how to fix each missing leg" }).options(adminOptions),
    async (argv) => {
      const body = (await adminGet(adminClientOptions(argv), "api/v1/participants")) as ParticipantsReport;
      printResult(argv.output, body, () => ({
        header: ["SERVICE", "WHAT", "PROXY", "IDENTITY", "ENDPOINTS", "MISSING"],
        rows: [
          ...body.participants.map((p) => [p.service, p.pod === undefined ? "participant" : `participant (pod ${p.pod})`, p.proxyId, p.identity ?? "-", p.endpoints.map((e) => formatHostPort({ host: e.ip, port: e.port }) + (e.health?.state === "unhealthy" ? " (unhealthy)" : "")).join(","), "-"]),
          ...body.incomplete.map((r) => [r.service, describe(r), r.proxyId ?? "-", "-", r.ip !== undefined ? formatHostPort({ host: r.ip, port: r.port ?? 0 }) : "-", r.missing.join(",")]),
        ],
        footer: argv.explain ? explain(body.incomplete) : undefined,
      }));
    },
  );
}

function describe(r: IncompleteParticipant): string {
  return r.kind === "certificate" ? `certificate ${r.serial?.slice(0, 12) ?? ""}` : r.kind;
}

function explain(rows: readonly IncompleteParticipant[]): string | undefined {
  const legs = new Set(rows.flatMap((r) => r.missing));
  if (legs.size === 0) return "\nEvery member is a full participant.";
  return `\nMissing legs:\n${[...legs].map((l) => `  ${l}: ${EXPLAIN[l]}`).join("\n")}`;
}

interface CertificateRow {
  serial: string;
  kind: string;
  identity: string;
  notBefore: string;
  notAfter: string;
  state: string;
}

export function certsCommand(yargs: Argv) {
  return yargs.command("certs", "certificates issued by the controller's CA", (y) =>
    y
      .command<CommonArgs>(
        "list",
        "list the certificate registry",
        (y2) => y2.option("output", outputOption).options(adminOptions),
        async (argv) => {
          const body = (await adminGet(adminClientOptions(argv), "api/v1/certificates")) as CertificateRow[];
          printResult(argv.output, body, () => ({
            header: ["SERIAL", "KIND", "STATE", "NOT AFTER", "IDENTITY"],
            rows: body.map((c) => [c.serial, c.kind, c.state, c.notAfter, c.identity]),
          }));
        },
      )
      .command<CommonArgs & { serial: string; reason: string }>(
        "revoke <serial>",
        "revoke a certificate; a proxy connected with it is disconnected and refused from then on",
        (y2) =>
          y2.positional("serial", { type: "string", demandOption: true }).option("reason", { type: "string", default: "revoked by an operator" })
            .option("output", outputOption).options(adminOptions),
        async (argv) => {
          const body = (await adminPost(adminClientOptions(argv), "api/v1/certificates/revoke", { serial: argv.serial, reason: argv.reason })) as CertificateRow;
          printResult(argv.output, body, () => ({ header: ["SERIAL", "KIND", "STATE"], rows: [[body.serial, body.kind, body.state]] }));
        },
      )
      .demandCommand(1, "name a certs subcommand: list, revoke"),
  );
}
