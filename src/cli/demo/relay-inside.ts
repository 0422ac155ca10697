/**
 * Runs inside a demo host's network namespace: listens on
 * 127.0.0.1:<port> and pipes each connection to a Unix socket that the demo
 * process serves outside. A socket file is the one thing both network
 * namespaces see, and loopback is never captured, so the agent reaches the
 * controller with its ordinary --controller 127.0.0.1:<port>.
 * Usage: node relay-inside.js SOCKET PORT
 */
import { connect, createServer } from "node:net";

const [socketPath, portText] = process.argv.slice(2);
const port = Number(portText);
if (socketPath === undefined || !Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write("usage: relay-inside.js SOCKET PORT\n");
  process.exit(2);
}

createServer((inside) => {
  const outside = connect(socketPath);
  const end = () => { inside.destroy(); outside.destroy(); };
  inside.on("error", end);
  outside.on("error", end);
  inside.on("close", end);
  outside.on("close", end);
  inside.pipe(outside).pipe(inside);
}).listen(port, "127.0.0.1", () => process.stdout.write("ready\n"));
