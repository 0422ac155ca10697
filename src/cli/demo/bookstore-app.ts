/**
 * The demo's bookstore-v1: an ordinary HTTP server that knows nothing about
 * the mesh. It answers every request with its name and the caller identity
 * the sidecar put in `x-meshfed-peer-identity` (absent = not through the mesh).
 * Usage: node bookstore-app.js HOST PORT NAME
 */
import { createServer } from "node:http";

const [host, portText, name] = process.argv.slice(2);
createServer((req, res) => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ service: name, path: req.url, peer: req.headers["x-meshfed-peer-identity"] ?? null }));
}).listen(Number(portText), host, () => process.stdout.write("ready\n"));
