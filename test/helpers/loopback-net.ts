// A /24 of 127/8 chosen at random for one test file's hosts. A file that binds
// fixed loopback addresses and ports collides with another copy of the suite
// running on the same machine (another checkout, a stress run beside a
// developer's run): one of them fails with EADDRINUSE for reasons of its own
// making. 127.0.0.0/24 is left out: other tests and services use it.
import { randomInt } from "node:crypto";

export function loopbackNet(): (host: number) => string {
  const net = `127.${randomInt(1, 255)}.${randomInt(0, 256)}`;
  return (host) => `${net}.${host}`;
}
