/**
 * The part of a CRD's structural OpenAPI v3 schema that the API server
 * enforces on custom resources, for the fake API server: validation (type,
 * required, enum, bounds, item counts) and pruning of unknown fields. A
 * keyword this file does not implement makes it throw, so a CRD that starts
 * using one fails the tests loudly instead of being half-checked.
 */

export interface OpenApiSchema {
  readonly type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  readonly properties?: Readonly<Record<string, OpenApiSchema>>;
  readonly additionalProperties?: OpenApiSchema | boolean;
  readonly required?: readonly string[];
  readonly items?: OpenApiSchema;
  readonly enum?: readonly unknown[];
  readonly minItems?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly description?: string;
  readonly "x-kubernetes-preserve-unknown-fields"?: boolean;
  readonly "x-kubernetes-int-or-string"?: boolean;
}

const KNOWN = new Set(["type", "properties", "additionalProperties", "required", "items", "enum", "minItems", "minimum", "maximum", "minLength", "description", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string"]);

/** Top-level fields every object has, which a CRD's schema need not declare. */
const ROOT_FIELDS = ["apiVersion", "kind", "metadata"];

/** Every violation, worded like the API server's field errors (`spec.backends[0].weight: ...`). */
export function validateCustomResource(object: Record<string, unknown>, schema: OpenApiSchema): string[] {
  const errors: string[] = [];
  const root: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(object)) if (!ROOT_FIELDS.includes(k)) root[k] = v;
  check(root, schema, "", errors);
  return errors;
}

/** A copy without the fields the schema does not declare, as the API server stores it. */
export function pruneCustomResource<T extends Record<string, unknown>>(object: T, schema: OpenApiSchema): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(object)) {
    if (ROOT_FIELDS.includes(k)) out[k] = v;
    else if (schema.properties?.[k] !== undefined) out[k] = prune(v, schema.properties[k]);
    else if (schema["x-kubernetes-preserve-unknown-fields"] === true) out[k] = v;
  }
  return out as T;
}

function prune(value: unknown, schema: OpenApiSchema): unknown {
  if (schema["x-kubernetes-preserve-unknown-fields"] === true && schema.properties === undefined) return value;
  if (Array.isArray(value)) return schema.items === undefined ? value : value.map((v) => prune(v, schema.items!));
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const sub = schema.properties?.[k];
    if (sub !== undefined) out[k] = prune(v, sub);
    else if (typeof schema.additionalProperties === "object") out[k] = prune(v, schema.additionalProperties);
    else if (schema.additionalProperties === true || schema["x-kubernetes-preserve-unknown-fields"] === true) out[k] = v;
  }
  return out;
}

function check(value: unknown, schema: OpenApiSchema, path: string, errors: string[]): void {
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`openapi-schema.ts does not implement "${k}" (at ${path || "(root)"})`);
  const at = path === "" ? "(root)" : path;
  if (schema["x-kubernetes-int-or-string"] === true) {
    if (!(typeof value === "string" || Number.isInteger(value))) errors.push(`${at}: Invalid value: must be an integer or a string`);
    return;
  }
  if (schema.type === undefined) {
    if (schema["x-kubernetes-preserve-unknown-fields"] !== true) throw new Error(`a structural schema needs a type at ${at}`);
    return;
  }
  if (!hasType(value, schema.type)) {
    errors.push(`${at}: Invalid value: "${typeName(value)}": must be of type ${schema.type}`);
    return;
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) errors.push(`${at}: Unsupported value: ${JSON.stringify(value)}: supported values: ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}`);
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: Invalid value: ${value}: must be greater than or equal to ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at}: Invalid value: ${value}: must be less than or equal to ${schema.maximum}`);
  }
  if (typeof value === "string" && schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${at}: Invalid value: must be at least ${schema.minLength} chars long`);
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${at}: Invalid value: must have at least ${schema.minItems} items`);
    if (schema.items !== undefined) value.forEach((v, i) => check(v, schema.items!, `${path}[${i}]`, errors));
    return;
  }
  if (isRecord(value)) {
    for (const r of schema.required ?? []) if (!(r in value)) errors.push(`${path === "" ? "" : `${path}.`}${r}: Required value`);
    for (const [k, v] of Object.entries(value)) {
      const sub = schema.properties?.[k] ?? (typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined);
      // Unknown fields are pruned, not refused (the API server's default).
      if (sub !== undefined) check(v, sub, path === "" ? k : `${path}.${k}`, errors);
    }
  }
}

function hasType(value: unknown, type: NonNullable<OpenApiSchema["type"]>): boolean {
  switch (type) {
    case "object": return isRecord(value);
    case "array": return Array.isArray(value);
    case "string": return typeof value === "string";
    case "integer": return Number.isInteger(value);
    case "number": return typeof value === "number" && Number.isFinite(value);
    case "boolean": return typeof value === "boolean";
  }
}

function typeName(value: unknown): string {
  return Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
