/**
 * One YAML input file on its way to a validated object: parse it keeping
 * positions, turn syntax errors and schema issues into issues with a line and
 * column, and raise them as one MeshfedError naming `file:line:column`.
 */
import { LineCounter, parseAllDocuments, parseDocument, type Document, type YAMLError } from "yaml";
import type { ZodError, ZodType, output } from "zod";
import { MeshfedError } from "./errors.js";
import { formatPath, nodeAtPath, positionAtOffset, positionOf, type Position } from "./yaml-position.js";

export interface InputIssue {
  readonly code: string;
  readonly message: string;
  readonly path: readonly PropertyKey[];
  /** Set when the issue is about a key itself (an unknown field). */
  readonly keyOf?: string;
  /** Set for YAML syntax errors, which have no path. */
  readonly offset?: number;
}

export interface PositionedIssue extends InputIssue, Position {
  readonly file: string;
}

export function issuesFromZod(error: ZodError, code: string, prefix: readonly PropertyKey[] = []): InputIssue[] {
  const out: InputIssue[] = [];
  for (const zi of error.issues) {
    const path = [...prefix, ...zi.path];
    if (zi.code === "unrecognized_keys") {
      for (const key of zi.keys) out.push({ code, message: `unknown field "${key}"`, path, keyOf: key });
    } else {
      out.push({ code, message: zi.message, path });
    }
  }
  return out;
}

export class YamlInput {
  readonly lineCounter = new LineCounter();
  readonly documents: Document.Parsed[];

  constructor(
    readonly text: string,
    readonly file: string,
    options: { multiDocument?: boolean } = {},
  ) {
    const opts = { lineCounter: this.lineCounter, prettyErrors: false, uniqueKeys: true } as const;
    this.documents = options.multiDocument ? parseAllDocuments(text, opts) as Document.Parsed[] : [parseDocument(text, opts)];
  }

  /** Syntax errors of every document, positioned. */
  syntaxIssues(code: string): InputIssue[] {
    return this.documents.flatMap((d) => d.errors.map((e) => ({ code, message: syntaxMessage(e), path: [], offset: e.pos[0] })));
  }

  position(issue: InputIssue, document = 0): PositionedIssue {
    const doc = this.documents[document];
    const pos = issue.offset !== undefined || !doc
      ? positionAtOffset(issue.offset, this.lineCounter)
      : positionOf(nodeAtPath(doc.contents, issue.path, issue.keyOf), this.lineCounter);
    return { ...issue, file: this.file, ...pos };
  }

  /**
   * Plain JS of one document. Aliases are bounded so a "billion laughs" file
   * cannot blow up memory; such a file is refused as a MeshfedError with
   * `code`, like any other mistake in it.
   */
  toJS(code: string, document = 0): unknown {
    const result = documentToJS(this.documents[document], code);
    if (!result.ok) throw inputError([this.position(result.issue, document)]);
    return result.value;
  }
}

export interface ValidateYamlOptions {
  /** Code of syntax errors (and of documents that cannot be expanded). */
  readonly syntaxCode: string;
  /** Code of schema issues; default: `syntaxCode`. */
  readonly schemaCode?: string;
  /** What the schema sees instead of the document's plain JS (defaults, values merged in). */
  readonly prepare?: (raw: unknown) => unknown;
}

/**
 * One-document YAML text through a schema: syntax errors, then schema issues,
 * each raised as one positioned MeshfedError (`file:line:column: ...`). The
 * parsed input comes back too, so a caller with rules the schema cannot say
 * (duplicates across entries) positions its own issues the same way.
 */
export function validateYaml<S extends ZodType>(text: string, file: string, schema: S, options: ValidateYamlOptions): { value: output<S>; input: YamlInput } {
  const input = new YamlInput(text, file);
  const syntax = input.syntaxIssues(options.syntaxCode);
  if (syntax.length > 0) throw inputError(syntax.map((i) => input.position(i)));
  const raw = input.toJS(options.syntaxCode);
  const parsed = schema.safeParse(options.prepare === undefined ? raw : options.prepare(raw));
  if (!parsed.success) throw inputError(issuesFromZod(parsed.error, options.schemaCode ?? options.syntaxCode).map((i) => input.position(i)));
  return { value: parsed.data, input };
}

/**
 * The library's message, first line only; a second document in a one-document
 * file gets our own words, because the library's ("please use
 * YAML.parseAllDocuments()") is advice to a programmer, not to the user.
 */
function syntaxMessage(e: YAMLError): string {
  if (e.code === "MULTIPLE_DOCS") return "the file holds several YAML documents (separated by ---) where one was expected";
  return `YAML syntax error: ${e.message.split("\n")[0]}`;
}

/** Alias uses one document may expand; more is a resource-exhaustion attempt. */
export const MAX_YAML_ALIASES = 100;

/** A document's plain JS, or an issue (never a thrown library error) when it cannot be expanded. */
export function documentToJS(doc: Document.Parsed | undefined, code: string): { ok: true; value: unknown } | { ok: false; issue: InputIssue } {
  try {
    return { ok: true, value: doc?.toJS({ maxAliasCount: MAX_YAML_ALIASES }) ?? null };
  } catch (err) {
    const offset = doc?.contents?.range?.[0] ?? 0;
    const message = err instanceof ReferenceError
      ? `YAML aliases expand too far (more than ${MAX_YAML_ALIASES} alias uses); refused as a resource-exhaustion attempt`
      : `YAML document cannot be read: ${err instanceof Error ? err.message : String(err)}`;
    return { ok: false, issue: { code, message, path: [], offset } };
  }
}

/**
 * Raises the first issue (by position) as the error, worded
 * `file:line:column: what at path (and N more)`; every issue rides along in
 * `details.issues` so a validator can list them all.
 */
export function inputError(issues: readonly PositionedIssue[]): MeshfedError {
  const details = [...issues]
    .sort((a, b) => a.line - b.line || a.column - b.column)
    .map((i) => ({
      file: i.file,
      code: i.code,
      message: i.message,
      line: i.line,
      column: i.column,
      path: formatPath(i.keyOf === undefined ? i.path : [...i.path, i.keyOf]),
    }));
  const head = details[0];
  if (head === undefined) throw new Error("inputError called without issues");
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : "";
  const where = head.path === "(document)" ? "" : ` at ${head.path}`;
  return new MeshfedError(head.code, `${head.file}:${head.line}:${head.column}: ${head.message}${where}${more}`, {
    details: { file: head.file, line: head.line, column: head.column, path: head.path, issues: details },
  });
}
