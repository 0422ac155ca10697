import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { MeshfedError } from "../../src/common/errors.js";
import { parseHostsFile } from "../../src/controller/providers/onprem/hosts-file.js";

// Compiled to dist-*/test/unit: the repository root is three levels up.
const CONFIG = fileURLToPath(new URL("../../../config/", import.meta.url));

test("parseHostsFile accepts config/hosts.example.yaml", async () => {
  const file = `${CONFIG}hosts.example.yaml`;
  const parsed = parseHostsFile(await readFile(file, "utf8"), file);
  assert.ok(parsed.hosts.length >= 5);
  const services = new Set(parsed.hosts.flatMap((h) => h.services.map((s) => `${s.namespace}/${s.name}`)));
  for (const s of ["bookstore/bookstore-v1", "bookstore/bookstore-v2", "bookbuyer/bookbuyer", "bookthief/bookthief", "bookwarehouse/bookwarehouse"]) {
    assert.ok(services.has(s), `example lacks ${s}`);
  }
  const v6 = parsed.hosts.find((h) => h.address.includes(":"));
  assert.ok(v6, "example shows an IPv6 host");
  const warehouse = parsed.hosts.find((h) => h.name === "warehouse-1");
  assert.deepEqual(warehouse?.ssh, { user: "root", port: 2222, key: "/etc/meshfed/installer_ed25519" });
});

test("parseHostsFile normalises a small file", () => {
  const text = [
    "hosts:",
    "  - name: db-1",
    "    address: 10.0.0.21",
    "    services:",
    "      - { name: bookstore, namespace: default, port: 14001 }",
    "    ssh: { user: root }",
    "  - name: v6",
    "    address: 2001:DB8::1",
  ].join("\n");
  assert.deepEqual(parseHostsFile(text, "h.yaml"), {
    file: "h.yaml",
    hosts: [
      { name: "db-1", address: "10.0.0.21", services: [{ namespace: "default", name: "bookstore", port: 14001 }], ssh: { user: "root", port: 22 } },
      { name: "v6", address: "2001:db8::1", services: [] },
    ],
  });
});

test("parseHostsFile: an empty file and an empty list are empty views", () => {
  for (const text of ["", "# nothing yet\n", "hosts: []\n", "hosts:\n"]) {
    assert.deepEqual(parseHostsFile(text, "h.yaml").hosts, [], JSON.stringify(text));
  }
});

const HOST = ["hosts:", "  - name: db-1", "    address: 10.0.0.21", "    services:"];

const invalid: { name: string; lines: string[]; code: string; line: number; column: number; path?: string }[] = [
  { name: "YAML syntax error", lines: ["hosts:", "  - name: db-1", "    address: [10.0.0.1"], code: "MESHFED_HOSTS_YAML", line: 4, column: 1 },
  { name: "duplicate map key", lines: ["hosts:", "  - name: db-1", "    name: db-2", "    address: 10.0.0.1"], code: "MESHFED_HOSTS_YAML", line: 3, column: 5 },
  { name: "top level is a list", lines: ["- 1"], code: "MESHFED_HOSTS_INVALID", line: 1, column: 1 },
  { name: "unknown top-level field", lines: ["hosts: []", "hostz: []"], code: "MESHFED_HOSTS_INVALID", line: 2, column: 1, path: "hostz" },
  { name: "unknown host field", lines: ["hosts:", "  - name: db-1", "    address: 10.0.0.1", "    adress: 10.0.0.2"], code: "MESHFED_HOSTS_INVALID", line: 4, column: 5, path: "hosts[0].adress" },
  { name: "missing address", lines: ["hosts:", "  - name: db-1", "    services: []"], code: "MESHFED_HOSTS_INVALID", line: 2, column: 5, path: "hosts[0].address" },
  { name: "port is a string", lines: [...HOST, "      - { name: a, namespace: b, port: http }"], code: "MESHFED_HOSTS_INVALID", line: 5, column: 40, path: "hosts[0].services[0].port" },
  { name: "port out of range", lines: [...HOST, "      - name: a", "        namespace: b", "        port: 65536"], code: "MESHFED_HOSTS_INVALID_PORT", line: 7, column: 15 },
  { name: "port zero", lines: [...HOST, "      - { name: a, namespace: b, port: 0 }"], code: "MESHFED_HOSTS_INVALID_PORT", line: 5, column: 40 },
  { name: "fractional port", lines: [...HOST, "      - { name: a, namespace: b, port: 80.5 }"], code: "MESHFED_HOSTS_INVALID_PORT", line: 5, column: 40 },
  { name: "ssh port out of range", lines: ["hosts:", "  - name: db-1", "    address: 10.0.0.1", "    ssh: { user: root, port: 70000 }"], code: "MESHFED_HOSTS_INVALID_PORT", line: 4, column: 30 },
  { name: "ssh without user", lines: ["hosts:", "  - name: db-1", "    address: 10.0.0.1", "    ssh: { port: 22 }"], code: "MESHFED_HOSTS_INVALID", line: 4, column: 10 },
  { name: "ssh unknown field", lines: ["hosts:", "  - name: db-1", "    address: 10.0.0.1", "    ssh: { user: root, password: x }"], code: "MESHFED_HOSTS_INVALID", line: 4, column: 24 },
  { name: "invalid IPv4", lines: ["hosts:", "  - name: db-1", "    address: 10.0.0.256"], code: "MESHFED_HOSTS_INVALID_ADDRESS", line: 3, column: 14 },
  { name: "host name instead of IP", lines: ["hosts:", "  - name: db-1", "    address: db-1.example.com"], code: "MESHFED_HOSTS_INVALID_ADDRESS", line: 3, column: 14 },
  { name: "invalid IPv6", lines: ["hosts:", "  - name: db-1", "    address: \"2001:db8:::1\""], code: "MESHFED_HOSTS_INVALID_ADDRESS", line: 3, column: 14 },
  { name: "duplicate host", lines: ["hosts:", "  - name: db-1", "    address: 10.0.0.1", "  - name: db-1", "    address: 10.0.0.2"], code: "MESHFED_HOSTS_DUPLICATE_HOST", line: 4, column: 11 },
  { name: "host name not a host name", lines: ["hosts:", "  - name: db_1", "    address: 10.0.0.1"], code: "MESHFED_HOSTS_INVALID_NAME", line: 2, column: 11 },
  { name: "namespace not a DNS label", lines: [...HOST, "      - { name: a, namespace: Default, port: 80 }"], code: "MESHFED_HOSTS_INVALID_NAME", line: 5, column: 31 },
  { name: "service name not a DNS label", lines: [...HOST, "      - { name: book.store, namespace: b, port: 80 }"], code: "MESHFED_HOSTS_INVALID_NAME", line: 5, column: 17 },
  { name: "same service and port twice on a host", lines: [...HOST, "      - { name: a, namespace: b, port: 80 }", "      - { name: a, namespace: b, port: 80 }"], code: "MESHFED_HOSTS_DUPLICATE_SERVICE", line: 6, column: 9 },
  { name: "one IP:port for two services", lines: [...HOST, "      - { name: a, namespace: b, port: 80 }", "      - { name: c, namespace: b, port: 80 }"], code: "MESHFED_HOSTS_DUPLICATE_ENDPOINT", line: 6, column: 40 },
];

for (const c of invalid) {
  test(`parseHostsFile rejects: ${c.name}`, () => {
    const text = c.lines.join("\n") + "\n";
    assert.throws(
      () => parseHostsFile(text, "hosts.yaml"),
      (err: unknown) => {
        assert.ok(err instanceof MeshfedError);
        assert.equal(err.code, c.code, err.message);
        assert.equal(err.details.file, "hosts.yaml");
        assert.deepEqual({ line: err.details.line, column: err.details.column }, { line: c.line, column: c.column }, err.message);
        if (c.path !== undefined) assert.equal(err.details.path, c.path);
        assert.ok(err.message.startsWith(`hosts.yaml:${c.line}:${c.column}: `), err.message);
        return true;
      },
    );
  });
}

test("parseHostsFile reports every problem, first one in the message", () => {
  const text = ["hosts:", "  - name: db-1", "    address: nope", "    services:", "      - { name: a, namespace: b, port: 0 }"].join("\n");
  try {
    parseHostsFile(text, "h.yaml");
    assert.fail("expected an error");
  } catch (err) {
    assert.ok(err instanceof MeshfedError);
    assert.equal(err.code, "MESHFED_HOSTS_INVALID_ADDRESS");
    assert.match(err.message, /and 1 more/);
    const issues = err.details.issues as { code: string; line: number }[];
    assert.deepEqual(issues.map((i) => [i.code, i.line]), [["MESHFED_HOSTS_INVALID_ADDRESS", 3], ["MESHFED_HOSTS_INVALID_PORT", 5]]);
  }
});
