// The app behind a sidecar in the real-Pipy tests: it answers every request
// with its own name and the caller identity its sidecar verified.
import { once } from "node:events";
import { createServer } from "node:http";

export async function identityEchoApp(t: { after(fn: () => unknown): void }, name: string, host: string, port: number): Promise<void> {
  const server = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ service: name, peer: req.headers["x-meshfed-peer-identity"] ?? null }));
  });
  server.listen(port, host);
  await once(server, "listening");
  t.after(() => new Promise<void>((r) => server.close(() => r())));
}
