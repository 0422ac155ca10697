/**
 * Runs the agent's mesh DNS (server, resolver hook, a fixed name table) and a
 * fake upstream resolver in one process, for the network-namespace test: it
 * is started with `ip netns exec`, so it binds 127.0.0.153:53 and
 * 127.0.0.2:53 inside the namespace only. Prints READY once both answer and
 * the hook is in place; SIGTERM restores the resolver and exits.
 *
 * env: MFDNS_RESOLV (the namespace's resolv.conf as seen from the host,
 * /etc/netns/<ns>/resolv.conf), MFDNS_BACKUP (the backup file), MFDNS_TABLE
 * (the name table, JSON).
 */
import { MeshDns } from "../../src/agent/dns/mesh-dns.js";
import { nameTableSchema } from "../../src/agent/dns/name-table.js";
import { ResolverHook } from "../../src/agent/dns/resolver-hook.js";
import { createLogger } from "../../src/common/logger.js";
import { fakeUpstream } from "./dns.js";

const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};

const logger = createLogger("warn");
const upstream = await fakeUpstream("192.0.2.7", "127.0.0.2", 53);
const listen = { host: "127.0.0.153", port: 53 };
const hook = new ResolverHook({
  mode: "resolv.conf", listen, logger,
  paths: { resolvConf: env("MFDNS_RESOLV"), backup: env("MFDNS_BACKUP"), resolvedDropIn: `${env("MFDNS_BACKUP")}.dropin`, resolvedUpstreams: `${env("MFDNS_BACKUP")}.none` },
});
const table = nameTableSchema.parse(JSON.parse(env("MFDNS_TABLE")));
const dns = new MeshDns({ listen, hook, logger, forwardTimeoutMs: 1000, maxInFlight: 64, store: { load: async () => table, save: async () => undefined } });
await dns.start();
process.stdout.write(`READY ${JSON.stringify(dns.status().upstreams)}\n`);
process.on("SIGTERM", () => {
  void dns.close().then(() => upstream.close()).then(() => process.exit(0));
});
