// The Books gRPC service of test/fixtures/grpc/books.proto: a server that says
// who served a call and who called (the sidecar's x-meshfed-peer-identity),
// and a client for it. Used by test/pipy/grpc.test.ts and bench/sidecars-grpc.ts.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

// The .proto stays in the source tree; found from dist/test/helpers.
const PROTO = fileURLToPath(new URL("../../../test/fixtures/grpc/books.proto", import.meta.url));

export interface Book { id: number; title: string; servedBy: string; peer: string }
export interface Summary { count: number; ids: number[]; servedBy: string }

type Ctor = grpc.ServiceClientConstructor;
const definition = protoLoader.loadSync(PROTO, { keepCase: false, longs: Number, defaults: true });
const Books = (grpc.loadPackageDefinition(definition) as unknown as { meshfed: { test: { v1: { Books: Ctor } } } }).meshfed.test.v1.Books;

export const BOOKS_SERVICE = "meshfed.test.v1.Books";

export interface BooksServer {
  readonly calls: Record<string, number>;
  close(): Promise<void>;
}

/** Serves Books on ip:port (h2c); every answer names `name`. Calls to the methods meant to be refused are counted. */
export async function startBooksServer(address: string, name: string): Promise<BooksServer> {
  const calls: Record<string, number> = {};
  const seen = (method: string) => void (calls[method] = (calls[method] ?? 0) + 1);
  const peerOf = (md: grpc.Metadata) => String(md.get("x-meshfed-peer-identity")[0] ?? "");
  const book = (id: number, peer: string): Book => ({ id, title: `book ${id}`, servedBy: name, peer });
  const server = new grpc.Server();
  server.addService(Books.service, {
    GetBook: (call: grpc.ServerUnaryCall<{ id: number }, Book>, cb: grpc.sendUnaryData<Book>) => {
      seen("GetBook");
      const trailer = new grpc.Metadata();
      trailer.set("x-served-by", name);
      if (call.request.id === 404) return cb({ code: grpc.status.NOT_FOUND, details: "no book 404", metadata: trailer });
      cb(null, book(call.request.id, peerOf(call.metadata)), trailer);
    },
    ListBooks: (call: grpc.ServerWritableStream<{ count: number; intervalMs: number }, Book>) => {
      seen("ListBooks");
      const peer = peerOf(call.metadata);
      let i = 0;
      const next = () => {
        if (call.cancelled) return;
        if (i === call.request.count) {
          const trailer = new grpc.Metadata();
          trailer.set("x-books-sent", String(i));
          call.end(trailer);
          return;
        }
        call.write(book(++i, peer));
        setTimeout(next, call.request.intervalMs);
      };
      next();
    },
    Collect: (call: grpc.ServerReadableStream<{ id: number }, Summary>, cb: grpc.sendUnaryData<Summary>) => {
      seen("Collect");
      const ids: number[] = [];
      call.on("data", (r: { id: number }) => ids.push(r.id));
      call.on("end", () => cb(null, { count: ids.length, ids, servedBy: name }));
    },
    Chat: (call: grpc.ServerDuplexStream<{ id: number }, Book>) => {
      seen("Chat");
      const peer = peerOf(call.metadata);
      call.on("data", (r: { id: number }) => call.write(book(r.id, peer)));
      call.on("end", () => call.end());
    },
    DeleteBook: (call: grpc.ServerUnaryCall<{ id: number }, Book>, cb: grpc.sendUnaryData<Book>) => {
      seen("DeleteBook");
      cb(null, book(call.request.id, peerOf(call.metadata)));
    },
    Watch: (call: grpc.ServerDuplexStream<{ id: number }, Book>) => {
      seen("Watch");
      call.on("end", () => call.end());
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return {
    calls,
    close: () => new Promise<void>((resolve) => {
      const force = setTimeout(() => server.forceShutdown(), 2_000);
      server.tryShutdown(() => { clearTimeout(force); resolve(); });
    }),
  };
}

export interface BooksClient {
  readonly raw: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  getBook(id: number, deadlineMs?: number): Promise<{ book: Book; trailers: grpc.Metadata }>;
  listBooks(count: number, intervalMs: number): Promise<{ books: Book[]; arrivals: number[]; trailers: grpc.Metadata; ended: number }>;
  collect(ids: number[]): Promise<Summary>;
  chat(ids: number[]): Promise<Book[]>;
  deleteBook(id: number): Promise<Book>;
  watch(deadlineMs: number): Promise<void>;
  close(): void;
}

/**
 * A client of `address` (the service itself, or a sidecar's outbound
 * listener); `authority` is the :authority every call carries
 * (grpc.default_authority), which names the service to the sidecar.
 */
export function booksClient(address: string, authority?: string): BooksClient {
  const options: grpc.ChannelOptions = authority === undefined ? {} : { "grpc.default_authority": authority };
  const raw = new Books(address, grpc.credentials.createInsecure(), options) as unknown as BooksClient["raw"];
  const deadline = (ms: number) => ({ deadline: Date.now() + ms });
  return {
    raw,
    getBook: (id, deadlineMs = 10_000) => new Promise((resolve, reject) => {
      let trailers = new grpc.Metadata();
      const call = raw.GetBook!({ id }, deadline(deadlineMs), ((err: grpc.ServiceError | null, book: Book) => {
        // grpc-js calls back before it emits "status" (which carries the trailers).
        setImmediate(() => (err ? reject(err) : resolve({ book, trailers })));
      })) as grpc.ClientUnaryCall;
      call.on("status", (s: grpc.StatusObject) => (trailers = s.metadata));
    }),
    listBooks: (count, intervalMs) => new Promise((resolve, reject) => {
      const books: Book[] = [];
      const arrivals: number[] = [];
      let trailers = new grpc.Metadata();
      const call = raw.ListBooks!({ count, intervalMs }, deadline(30_000)) as grpc.ClientReadableStream<Book>;
      call.on("data", (b: Book) => { books.push(b); arrivals.push(Date.now()); });
      call.on("status", (s: grpc.StatusObject) => (trailers = s.metadata));
      call.on("error", reject);
      call.on("end", () => setImmediate(() => resolve({ books, arrivals, trailers, ended: Date.now() })));
    }),
    collect: (ids) => new Promise((resolve, reject) => {
      const call = raw.Collect!(deadline(10_000), ((err: grpc.ServiceError | null, s: Summary) => (err ? reject(err) : resolve(s)))) as grpc.ClientWritableStream<{ id: number }>;
      for (const id of ids) call.write({ id });
      call.end();
    }),
    // Ping-pong: each request is sent only after the answer to the previous
    // one arrived, which works only if both directions stream.
    chat: (ids) => new Promise((resolve, reject) => {
      const got: Book[] = [];
      const call = raw.Chat!(deadline(10_000)) as grpc.ClientDuplexStream<{ id: number }, Book>;
      call.on("data", (b: Book) => {
        got.push(b);
        const next = ids[got.length];
        if (next === undefined) call.end();
        else call.write({ id: next });
      });
      call.on("error", reject);
      call.on("end", () => resolve(got));
      call.write({ id: ids[0] ?? 0 });
    }),
    deleteBook: (id) => new Promise((resolve, reject) => {
      raw.DeleteBook!({ id }, deadline(10_000), ((err: grpc.ServiceError | null, b: Book) => (err ? reject(err) : resolve(b))));
    }),
    // Opens the stream and sends nothing: the outcome must come from the other side.
    watch: (deadlineMs) => new Promise((resolve, reject) => {
      const call = raw.Watch!(deadline(deadlineMs)) as grpc.ClientDuplexStream<{ id: number }, Book>;
      call.on("data", () => undefined);
      call.on("error", reject);
      call.on("end", () => resolve());
    }),
    close: () => raw.close(),
  };
}
