/**
 * Every error meshfed raises on purpose carries a stable string `code`
 * (scripts and tests match on it, never on the message) and, where one
 * exists, the underlying `cause`.
 */
export class MeshfedError extends Error {
  readonly code: string;
  /** Extra structured facts (file, line, column, object name) for logs and APIs. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MeshfedError";
    this.code = code;
    this.details = options.details ?? {};
  }

  toJSON(): { code: string; message: string } & Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.details };
  }
}

export function errorCode(err: unknown): string {
  return err instanceof MeshfedError ? err.code : "MESHFED_INTERNAL";
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
