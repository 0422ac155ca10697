// A headless Chromium driven over the DevTools protocol on a pipe
// (--remote-debugging-pipe: NUL-terminated JSON on fds 3 and 4), so tests need
// no WebSocket client and no browser-automation package. One owner: close()
// (registered on t.after by launchChromium) ends the browser, kills it if it
// does not go, and removes its profile directory.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";

const CANDIDATES = ["chromium", "chromium-browser", "google-chrome"];

/** The browser binary: $MESHFED_CHROMIUM, else the first candidate on PATH; undefined when none. */
export function findChromium(): string | undefined {
  const explicit = process.env.MESHFED_CHROMIUM;
  if (explicit) return explicit;
  for (const name of CANDIDATES) {
    const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
    if (found.status === 0 && found.stdout.trim() !== "") return found.stdout.trim();
  }
  return undefined;
}

interface Pending {
  resolve(value: Record<string, unknown>): void;
  reject(err: Error): void;
}

export interface BrowserPage {
  /** Evaluates `expression` in the page and returns its (JSON) value; promises are awaited. */
  evaluate<T>(expression: string): Promise<T>;
  /** A PNG of the viewport. */
  screenshot(): Promise<Buffer>;
}

export class Chromium {
  readonly #child: ChildProcess;
  readonly #profile: string;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #buffer = "";
  #exited = false;
  readonly #exit: Promise<void>;

  private constructor(child: ChildProcess, profile: string) {
    this.#child = child;
    this.#profile = profile;
    const out = child.stdio[4] as Readable;
    out.setEncoding("utf8");
    out.on("data", (chunk: string) => this.#onData(chunk));
    this.#exit = new Promise((resolve) => child.once("exit", () => {
      this.#exited = true;
      for (const p of this.#pending.values()) p.reject(new Error("chromium exited"));
      this.#pending.clear();
      resolve();
    }));
  }

  static async launch(binary: string): Promise<Chromium> {
    const profile = await mkdtemp(join(tmpdir(), "meshfed-chromium-"));
    const child = spawn(binary, [
      "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
      "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
      "--remote-debugging-pipe", `--user-data-dir=${profile}`, "--window-size=1280,1400", "about:blank",
    ], { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"] });
    const browser = new Chromium(child, profile);
    await browser.send("Browser.getVersion");
    return browser;
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let end: number;
    while ((end = this.#buffer.indexOf("\0")) >= 0) {
      const text = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 1);
      const msg = JSON.parse(text) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
      if (msg.id === undefined) continue;
      const p = this.#pending.get(msg.id);
      if (!p) continue;
      this.#pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`DevTools: ${msg.error.message}`));
      else p.resolve(msg.result ?? {});
    }
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    if (this.#exited) return Promise.reject(new Error("chromium exited"));
    const id = this.#nextId++;
    const message = JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) });
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      (this.#child.stdio[3] as Writable).write(`${message}\0`);
    });
  }

  /** A new tab (its own sessionStorage) at `url`. */
  async open(url: string): Promise<BrowserPage> {
    const { targetId } = (await this.send("Target.createTarget", { url: "about:blank" })) as { targetId: string };
    const { sessionId } = (await this.send("Target.attachToTarget", { targetId, flatten: true })) as { sessionId: string };
    await this.send("Page.enable", {}, sessionId);
    await this.send("Page.navigate", { url }, sessionId);
    return {
      evaluate: async <T,>(expression: string): Promise<T> => {
        const r = (await this.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true }, sessionId)) as {
          result: { value?: unknown };
          exceptionDetails?: { text: string; exception?: { description?: string } };
        };
        if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
        return r.result.value as T;
      },
      screenshot: async () => {
        const { data } = (await this.send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true }, sessionId)) as { data: string };
        return Buffer.from(data, "base64");
      },
    };
  }

  async close(): Promise<void> {
    if (!this.#exited) {
      await Promise.race([this.send("Browser.close").catch(() => undefined), this.#exit]);
      const killer = setTimeout(() => this.#child.kill("SIGKILL"), 5_000);
      await this.#exit;
      clearTimeout(killer);
    }
    await rm(this.#profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  }
}

/**
 * Launches Chromium for a test and closes it after; returns undefined (the
 * test skips) when no browser is installed, and fails under CI=true, where
 * `.ci/run` installs Debian's chromium.
 */
export async function launchChromium(t: { after(fn: () => Promise<void>): void; skip(message?: string): void }): Promise<Chromium | undefined> {
  const binary = findChromium();
  if (binary === undefined) {
    if (process.env.CI === "true") throw new Error("chromium is not installed (CI=true): .ci/run installs Debian's chromium");
    t.skip("chromium not installed: the status-page browser test is skipped");
    return undefined;
  }
  const browser = await Chromium.launch(binary);
  t.after(() => browser.close());
  return browser;
}
