/** `meshfed token create|list|revoke` and `meshfed proxies`: the enrollment side of the admin API. */
import type { Argv } from "yargs";
import { parseProbeFlag } from "../../common/health-probe.js";
import { DEFAULT_METRICS_ADDRESS } from "../../agent/config.js";
import { MeshfedError } from "../../common/errors.js";
import { adminClientOptions, adminGet, adminPost } from "../admin-client.js";
import { scrapeTargets } from "../scrape-targets.js";
import { adminOptions, outputOption, printResult, type OutputFormat } from "../output.js";

interface TokenInfo {
  id: string;
  service: string;
  createdAt: string;
  expiresAt: string;
  uses: number;
  used: number;
  state: string;
  token?: string;
}

interface CommonArgs {
  output: OutputFormat;
  admin?: string;
  adminTokenFile?: string;
}

export function tokenCommand(yargs: Argv) {
  return yargs.command("token", "join tokens that let an agent enroll for one service", (y) =>
    y
      .command<CommonArgs & { service: string; ttl: string; uses: number; serviceAccount?: string; probe?: string[] }>(
        "create",
        "create a join token; prints only the token (use -o json for details)",
        (y2) =>
          y2
            .option("service", { type: "string", demandOption: true, describe: "namespace/name the token enrolls for" })
            .option("service-account", { type: "string", describe: "ServiceAccount (in the service's namespace) the agent runs as; default: the service's name" })
            .option("ttl", { type: "string", default: "1h", describe: "lifetime, e.g. 30m, 24h" })
            .option("uses", { type: "number", default: 1, describe: "how many enrollments it allows" })
            .option("probe", { type: "string", array: true, describe: "a health probe agents enrolled with it run, e.g. port=14001,type=http,path=/healthz,periodSeconds=5 (repeatable; docs/agent.md)" })
            .option("output", { ...outputOption, default: "text" as OutputFormat, choices: ["text", "json", "yaml"] as const })
            .options(adminOptions),
        async (argv) => {
          const body = (await adminPost(adminClientOptions(argv), "api/v1/tokens", {
            service: argv.service, ...(argv.serviceAccount === undefined ? {} : { serviceAccount: argv.serviceAccount }), ttl: argv.ttl, uses: argv.uses,
            // Parsed here too, so a typo fails before any request with the key it is about.
            ...(argv.probe === undefined || argv.probe.length === 0 ? {} : { probes: argv.probe.map((p) => parseProbeFlag(p)) }),
          })) as TokenInfo;
          if ((argv.output as string) === "text") process.stdout.write(`${body.token}\n`);
          else printResult(argv.output, body, () => ({ header: [], rows: [] }));
        },
      )
      .command<CommonArgs>(
        "list",
        "list join tokens (never their secrets)",
        (y2) => y2.option("output", outputOption).options(adminOptions),
        async (argv) => {
          const body = (await adminGet(adminClientOptions(argv), "api/v1/tokens")) as TokenInfo[];
          printResult(argv.output, body, () => ({
            header: ["ID", "SERVICE", "STATE", "USED", "EXPIRES"],
            rows: body.map((t) => [t.id, t.service, t.state, `${t.used}/${t.uses}`, t.expiresAt]),
          }));
        },
      )
      .command<CommonArgs & { id: string }>(
        "revoke <id>",
        "revoke a join token so that it enrolls nothing more",
        (y2) => y2.positional("id", { type: "string", demandOption: true }).option("output", outputOption).options(adminOptions),
        async (argv) => {
          const body = (await adminPost(adminClientOptions(argv), "api/v1/tokens/revoke", { id: argv.id })) as TokenInfo;
          printResult(argv.output, body, () => ({ header: ["ID", "SERVICE", "STATE"], rows: [[body.id, body.service, body.state]] }));
        },
      )
      .demandCommand(1, "name a token subcommand: create, list, revoke"),
  );
}

interface ProxyRow {
  proxyId: string;
  service: string;
  addresses: string[];
  endpoints: Array<{ ip: string; port: number }>;
  config: { version: number } | null;
  lastAck: { version: number; ok: boolean; error: string } | null;
  connectedAt: string;
  /** The replica holding the stream; absent from controllers before replicas listed each other's proxies. */
  replicaId?: string;
  /** ServiceAccount `namespace/name`; absent for other replicas' proxies and from older controllers. */
  identity?: string;
  /** Absent from older controllers; null when the agent reported none. */
  capture?: { mode: string; installed: boolean; outboundActive: boolean; errorCode: string } | null;
}

/** "none", "transparent", "transparent (outbound off)" while Pipy is not ready, or the failure's code. */
export function captureColumn(c: ProxyRow["capture"]): string {
  if (c === undefined || c === null) return "-";
  if (c.mode !== "transparent") return c.mode;
  if (c.errorCode !== "") return `transparent: ${c.errorCode}`;
  if (!c.installed) return "transparent (rules missing)";
  return c.outboundActive ? "transparent" : "transparent (outbound off)";
}

export function proxiesCommand(yargs: Argv) {
  return yargs.command<CommonArgs>(
    "proxies",
    "connected proxies (of every replica) with their config version and last ACK/NACK",
    (y) => y.option("output", outputOption).options(adminOptions)
      .option("scrape-targets", { type: "boolean", default: false, describe: "print the sidecars' scrape ports as a Prometheus file_sd document (JSON)" })
      .option("scrape-port", { type: "number", default: Number(DEFAULT_METRICS_ADDRESS.split(":")[1]), describe: "the agents' proxy.metricsAddress port, for --scrape-targets" }),
    async (argv) => {
      const body = (await adminGet(adminClientOptions(argv), "api/v1/proxies")) as ProxyRow[];
      if (argv["scrape-targets"] === true) {
        const port = Number(argv["scrape-port"]);
        if (!Number.isInteger(port) || port < 1 || port > 65535) throw new MeshfedError("MESHFED_CLI_USAGE", `--scrape-port ${String(argv["scrape-port"])} is not a TCP port`);
        process.stdout.write(`${JSON.stringify(scrapeTargets(body, port), null, 2)}\n`);
        return;
      }
      printResult(argv.output, body, () => ({
        header: ["PROXY", "SERVICE", "IDENTITY", "ADDRESSES", "CONFIG", "LAST ACK", "CAPTURE", "CONNECTED", "REPLICA"],
        rows: body.map((p) => [
          p.proxyId, p.service, p.identity ?? "-", p.addresses.join(","), p.config ? `v${p.config.version}` : "-",
          p.lastAck ? `${p.lastAck.ok ? "ACK" : "NACK"} v${p.lastAck.version}${p.lastAck.ok ? "" : `: ${p.lastAck.error}`}` : "-",
          captureColumn(p.capture),
          p.connectedAt,
          p.replicaId ?? "-",
        ]),
      }));
    },
  );
}

interface ProxyConfigBody {
  proxyId: string;
  service: string;
  /** Absent from controllers before identities were accounts. */
  identity?: string;
  connected: boolean;
  driver: string;
  hash: string;
  sentVersion: number | null;
  files: Array<{ path: string; content: string }>;
  explain?: Array<{ part: string; from: string[] }>;
}

export function proxyCommand(yargs: Argv) {
  return yargs.command("proxy", "one proxy", (y) =>
    y
      .command<CommonArgs & { id: string; explain: boolean }>(
        "config <id>",
        "print the exact files a proxy receives; --explain says which provider, endpoint and policy produced each part",
        (y2) =>
          y2.positional("id", { type: "string", demandOption: true, describe: "proxy id (meshfed proxies)" })
            .option("explain", { type: "boolean", default: false })
            .option("output", { ...outputOption, default: "text" as OutputFormat, choices: ["text", "json", "yaml"] as const })
            .options(adminOptions),
        async (argv) => {
          const query = `api/v1/proxies/config?id=${encodeURIComponent(argv.id)}${argv.explain ? "&explain=1" : ""}`;
          const body = (await adminGet(adminClientOptions(argv), query)) as ProxyConfigBody;
          if ((argv.output as string) !== "text") {
            printResult(argv.output, body, () => ({ header: [], rows: [] }));
            return;
          }
          const state = body.connected ? (body.sentVersion !== null ? `connected, holds v${body.sentVersion}` : "connected, update pending") : "not connected";
          process.stdout.write(`# proxy ${body.proxyId} (${body.service}, identity ${body.identity ?? "?"}), driver ${body.driver}, hash ${body.hash.slice(0, 16)}, ${state}\n`);
          for (const f of body.files) process.stdout.write(`\n==> ${f.path} (${Buffer.byteLength(f.content)} bytes) <==\n${f.content}${f.content.endsWith("\n") ? "" : "\n"}`);
          if (body.explain) {
            process.stdout.write("\n# where each part comes from\n");
            for (const e of body.explain) process.stdout.write(`${e.part}\n${e.from.map((f) => `    <- ${f}`).join("\n") || "    <- (no source)"}\n`);
          }
        },
      )
      .demandCommand(1, "name a proxy subcommand: config"),
  );
}
