/**
 * The one string order of the code base: UTF-16 code units, as `<` compares.
 * Not `localeCompare`: rendered configs, their hashes and every listing must
 * come out the same on every machine, whatever its locale (DESIGN.md §3 flow
 * 2: a proxy whose rendered hash did not change gets nothing).
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
