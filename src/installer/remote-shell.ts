/**
 * What the installer needs of a host: run a shell script and feed it stdin.
 * The SSH session implements it; tests wrap it to record or answer commands
 * (a host without systemd cannot run systemctl).
 *
 * Secrets never go into a script: a script travels as the SSH command line
 * (visible in `ps` on the host and in sshd logs); secrets go through stdin.
 */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Data for the script's standard input (file contents, secrets). */
  readonly stdin?: Buffer | string;
}

export interface RemoteShell {
  run(script: string, options?: RunOptions): Promise<CommandResult>;
}

/** Single-quotes a word for POSIX sh, so paths with spaces or quotes stay one word. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, "'\\''")}'`;
}

/** Runs through `sudo -n` (never prompts: a password prompt would hang an unattended run). */
export function withSudo(shell: RemoteShell): RemoteShell {
  return { run: (script, options) => shell.run(`sudo -n sh -c ${shellQuote(script)}`, options) };
}
