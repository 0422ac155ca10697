/**
 * Reads a config file the operator named (controller or agent). One named
 * error for "it is not there or not readable", so `meshfed controller` and
 * `meshfed agent` say the same thing about the same mistake.
 */
import { readFile } from "node:fs/promises";
import { MeshfedError } from "./errors.js";

export async function readConfigFile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new MeshfedError("MESHFED_CONFIG_NOT_FOUND", `cannot read config file ${file}: ${(err as Error).message}`, { cause: err, details: { file } });
  }
}
