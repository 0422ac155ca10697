/**
 * The demo's bookbuyer: an unchanged app. Every second it calls each URL
 * with plain http.get (no proxy settings, no mesh library) and prints one
 * line per result: the status, and for a success who served it and which
 * caller identity that server saw. Usage: node bookbuyer-app.js URL...
 */
import { get } from "node:http";

const urls = process.argv.slice(2);

function once(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = get(url, { timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => {
        const status = res.statusCode ?? 0;
        if (status !== 200) return resolve(`${status} (refused by the mesh: no TrafficTarget rule allows this request)`);
        try {
          const b = JSON.parse(body) as { service?: string; peer?: string | null };
          resolve(`200 from ${b.service ?? "?"}, which saw caller ${b.peer ?? "(none: not through the mesh)"}`);
        } catch {
          resolve(`200 ${body.slice(0, 80)}`);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
  });
}

async function loop(): Promise<void> {
  for (;;) {
    for (const url of urls) process.stdout.write(`bookbuyer: GET ${url} -> ${await once(url)}\n`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
void loop();
