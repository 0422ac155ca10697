/**
 * docs/security.md promises that every threat row points at a test. This
 * keeps the promise checked: each `file.test.ts` › name reference must name
 * a test file of this repository that contains a test with that name (the
 * part before an ellipsis or a list of alternatives).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith(".test.ts") ? [join(dir, e.name)] : []));
}

/**
 * True when `source` has a test named `prefix`: literally, or through a
 * table-driven template test(`head ${case.name} …`) whose case name follows.
 */
function hasTest(source: string, prefix: string): boolean {
  if (source.includes(prefix)) return true;
  for (const [, head] of source.matchAll(/test\(`([^`$]*)\$\{/g)) {
    if (head === undefined || head.length < 5 || !prefix.startsWith(head)) continue;
    const caseName = prefix.slice(head.length).split(" is ")[0]!.trim();
    if (caseName !== "" && source.includes(`"${caseName}"`)) return true;
  }
  return false;
}

/** The checkable start of a quoted test name: up to an ellipsis, a list of alternatives or a remark. */
function namePrefix(name: string): string {
  const cut = [" …", "…", " / ", " (", "; "].map((m) => name.indexOf(m)).filter((i) => i > 0);
  return name.slice(0, cut.length > 0 ? Math.min(...cut) : name.length).trim();
}

test("docs/security.md: every threat row names a test, and every named test exists", () => {
  const files = testFiles(join(ROOT, "test"));
  const byName = (ref: string) => {
    const matches = ref.startsWith("test/") ? files.filter((f) => relative(ROOT, f) === ref) : files.filter((f) => f.endsWith(`/${ref}`));
    assert.equal(matches.length, 1, `"${ref}" names exactly one test file (found ${matches.length})`);
    return readFileSync(matches[0]!, "utf8");
  };
  const doc = readFileSync(join(ROOT, "docs", "security.md"), "utf8");
  // The threat tables: the rows under the "### Tn." headings.
  const rows: string[] = [];
  let inThreats = false;
  for (const line of doc.split("\n")) {
    if (line.startsWith("#")) inThreats = /^### T\d+\./.test(line);
    else if (inThreats && line.startsWith("| ") && !line.startsWith("| threat |") && !line.startsWith("| --- ")) rows.push(line);
  }
  assert.ok(rows.length >= 40, `found ${rows.length} threat rows`);
  let checked = 0;
  for (const row of rows) {
    assert.match(row, /\.test\.ts`|see T\d/, `a threat row without a test: ${row.slice(0, 100)}`);
    const cell = row.slice(row.lastIndexOf(" | ") + 3).replace(/ \|$/, "");
    let current: string | undefined;
    for (const part of cell.split(/;\s+|(?=`[^`]+\.test\.ts`)/)) {
      const file = /`([^`]+\.test\.ts)`/.exec(part);
      if (file) current = byName(file[1]!);
      for (const name of part.split("›").slice(1)) {
        const prefix = namePrefix(name);
        if (prefix.length < 10) continue;
        assert.ok(current !== undefined, `a test name without its file in: ${cell}`);
        assert.ok(hasTest(current, prefix), `no test starting "${prefix}" in the file named before it (row: ${row.slice(0, 80)}…)`);
        checked++;
      }
    }
  }
  assert.ok(checked >= 40, `checked ${checked} test references`);
});
