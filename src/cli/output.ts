import { stringify } from "yaml";
import { renderTable } from "./table.js";

export const OUTPUT_FORMATS = ["table", "json", "yaml"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const outputOption = {
  alias: "o",
  choices: OUTPUT_FORMATS,
  default: "table" as OutputFormat,
  describe: "output format; json and yaml equal the admin API's JSON",
} as const;

export const adminOptions = {
  admin: { type: "string", describe: "admin API URL (default $MESHFED_ADMIN or http://127.0.0.1:15000)" },
  "admin-token-file": { type: "string", describe: "file holding the admin token (or set $MESHFED_ADMIN_TOKEN)" },
} as const;

/** JSON and YAML print the API body unchanged; a table prints the given rows. */
export function printResult(format: OutputFormat, body: unknown, table: () => { header: string[]; rows: string[][]; footer?: string }): void {
  if (format === "json") process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  else if (format === "yaml") process.stdout.write(stringify(body));
  else {
    const t = table();
    process.stdout.write(renderTable(t.header, t.rows));
    if (t.footer) process.stdout.write(`${t.footer}\n`);
  }
}
