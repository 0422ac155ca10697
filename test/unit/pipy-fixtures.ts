// ProxyViews for the Pipy driver's tests: the bookstore scenario of issue 4.
import type { ProxyView } from "../../src/controller/catalog/types.js";

const sa = (namespace: string, name: string) => ({ kind: "ServiceAccount" as const, namespace, name });

/** bookbuyer in strict mode: may call bookstore, split 80/20 over v1 and v2. */
export const splitView: ProxyView = {
  proxy: { id: "11111111-1111-4111-8111-111111111111", service: { namespace: "bookbuyer", name: "bookbuyer" }, identity: sa("bookbuyer", "bookbuyer") },
  inbound: { permissive: false, endpoints: [{ ip: "127.0.0.2", port: 8080 }], rules: [] },
  outbound: [
    {
      service: { namespace: "bookstore", name: "bookstore" },
      identity: sa("bookstore", "bookstore"),
      ports: [8080],
      endpoints: [],
      split: {
        trafficSplit: "bookstore/bookstore-split",
        matches: [],
        backends: [
          { service: { namespace: "bookstore", name: "bookstore-v1" }, weight: 80, endpoints: [{ ip: "127.0.0.4", port: 8080 }, { ip: "127.0.0.3", port: 8080 }] },
          { service: { namespace: "bookstore", name: "bookstore-v2" }, weight: 20, endpoints: [{ ip: "127.0.0.5", port: 8080 }] },
        ],
      },
    },
    {
      service: { namespace: "bookstore", name: "bookstore-v1" },
      identity: sa("bookstore", "bookstore-v1"),
      ports: [8080],
      endpoints: [{ ip: "127.0.0.3", port: 8080 }, { ip: "127.0.0.4", port: 8080 }],
    },
  ],
};

/** bookstore-v1 in strict mode: bookbuyer may GET /books.* with a header; no outbound. */
export const noOutboundView: ProxyView = {
  proxy: { id: "22222222-2222-4222-8222-222222222222", service: { namespace: "bookstore", name: "bookstore-v1" }, identity: sa("bookstore", "bookstore-v1") },
  inbound: {
    permissive: false,
    endpoints: [{ ip: "127.0.0.3", port: 8080 }],
    rules: [
      {
        trafficTarget: "bookstore/bookstore-v1-access",
        sources: [sa("bookbuyer", "bookbuyer"), sa("bookbuyer", "bookbuyer")],
        httpMatches: [
          { name: "books", pathRegex: "/books.*", methods: ["GET", "HEAD"], headers: { "X-Tenant": "acme|umbrella" } },
          { name: "any", methods: ["*"], headers: {} },
        ],
        tcpPorts: [],
        anyTcpPort: false,
        port: 8080,
      },
    ],
  },
  outbound: [],
};

/** A database reached by TCP only (TCPRoute on 5432). */
export const tcpView: ProxyView = {
  proxy: { id: "33333333-3333-4333-8333-333333333333", service: { namespace: "shop", name: "db" }, identity: sa("shop", "db") },
  inbound: {
    permissive: false,
    endpoints: [{ ip: "10.0.0.7", port: 5432 }, { ip: "10.0.0.7", port: 60000 }],
    rules: [{ trafficTarget: "shop/db-access", sources: [sa("shop", "web")], httpMatches: [], tcpPorts: [5432], anyTcpPort: false }],
  },
  outbound: [],
};

/** Permissive: no rules, every service an outbound. */
export const permissiveView: ProxyView = {
  proxy: { id: "44444444-4444-4444-8444-444444444444", service: { namespace: "shop", name: "web" }, identity: sa("shop", "web") },
  inbound: { permissive: true, endpoints: [{ ip: "10.0.0.5", port: 8080 }], rules: [] },
  outbound: [
    { service: { namespace: "shop", name: "db" }, identity: sa("shop", "db"), ports: [5432], endpoints: [{ ip: "10.0.0.7", port: 5432 }] },
    { service: { namespace: "shop", name: "pay" }, identity: sa("shop", "pay"), ports: [9000], endpoints: [{ ip: "10.0.0.8", port: 9000 }, { ip: "10.0.0.9", port: 9000 }] },
  ],
};

/**
 * A VM whose agent captures traffic (issues 14 and 15): a gRPC service on
 * 9090 and a TCP port, peers run under one account shared by two services, a
 * mesh VIP and a ClusterIP to match original destinations against.
 */
export const transparentView: ProxyView = {
  proxy: { id: "55555555-5555-4555-8555-555555555555", service: { namespace: "shop", name: "web" }, identity: sa("shop", "web-sa"), capture: "transparent" },
  inbound: {
    permissive: false,
    endpoints: [{ ip: "10.0.0.5", port: 9090 }, { ip: "10.0.0.5", port: 8080 }],
    protocols: { "9090": "grpc" },
    rules: [{ trafficTarget: "shop/web-access", sources: [sa("shop", "front")], httpMatches: [{ name: "any", methods: ["*"], headers: {} }], tcpPorts: [], anyTcpPort: false }],
  },
  outbound: [
    {
      service: { namespace: "shop", name: "db" },
      identity: sa("shop", "db"),
      identities: [sa("shop", "storage"), sa("shop", "db")],
      ports: [3306],
      protocols: { "3306": "tcp" },
      endpoints: [{ ip: "10.0.0.7", port: 3306 }],
      vip: "240.240.0.2",
      virtualIPs: ["10.96.0.20"],
    },
    {
      service: { namespace: "shop", name: "pay" },
      identity: sa("shop", "pay"),
      ports: [9000, 9443],
      protocols: { "9000": "http2" },
      endpoints: [{ ip: "10.0.0.9", port: 9000 }, { ip: "10.0.0.8", port: 9000 }, { ip: "10.0.0.8", port: 9443 }],
      vip: "240.240.0.3",
    },
  ],
};

/**
 * HTTP/2 and gRPC (issue 15 item 2), explicit mode: bookstore serves gRPC on
 * 9090 (bookbuyer may call GetBook and ListBooks, not DeleteBook), HTTP/2 on
 * 9443 and HTTP/1 on 8080; it calls warehouse's gRPC port, split 50/50 over
 * two versions, and an HTTP/2 pricing service.
 */
export const grpcView: ProxyView = {
  proxy: { id: "66666666-6666-4666-8666-666666666666", service: { namespace: "bookstore", name: "bookstore" }, identity: sa("bookstore", "bookstore") },
  inbound: {
    permissive: false,
    endpoints: [{ ip: "10.0.1.5", port: 9090 }, { ip: "10.0.1.5", port: 9443 }, { ip: "10.0.1.5", port: 8080 }],
    protocols: { "9090": "grpc", "9443": "http2" },
    rules: [
      {
        trafficTarget: "bookstore/bookbuyer-grpc",
        sources: [sa("bookbuyer", "bookbuyer")],
        httpMatches: [
          { name: "read", pathRegex: "/bookstore\\.v1\\.Books/(GetBook|ListBooks)", methods: ["POST"], headers: { "content-type": "application/grpc.*" } },
        ],
        tcpPorts: [],
        anyTcpPort: false,
        port: 9090,
      },
      { trafficTarget: "bookstore/bookbuyer-h2", sources: [sa("bookbuyer", "bookbuyer")], httpMatches: [{ name: "any", methods: ["*"], headers: {} }], tcpPorts: [], anyTcpPort: false, port: 9443 },
    ],
  },
  outbound: [
    {
      service: { namespace: "warehouse", name: "warehouse" },
      identity: sa("warehouse", "warehouse"),
      ports: [7070],
      protocols: { "7070": "grpc" },
      endpoints: [],
      split: {
        trafficSplit: "warehouse/warehouse-split",
        matches: [],
        backends: [
          { service: { namespace: "warehouse", name: "warehouse-v1" }, weight: 50, endpoints: [{ ip: "10.0.2.1", port: 7070 }], protocols: { "7070": "grpc" } },
          { service: { namespace: "warehouse", name: "warehouse-v2" }, weight: 50, endpoints: [{ ip: "10.0.2.2", port: 7070 }], protocols: { "7070": "grpc" } },
        ],
      },
    },
    {
      service: { namespace: "pricing", name: "pricing" },
      identity: sa("pricing", "pricing"),
      ports: [8443, 8080],
      protocols: { "8443": "http2" },
      endpoints: [{ ip: "10.0.3.1", port: 8443 }, { ip: "10.0.3.1", port: 8080 }],
    },
  ],
};

export const VIEWS: Record<string, ProxyView> = { permissive: permissiveView, split: splitView, tcp: tcpView, "no-outbound": noOutboundView, transparent: transparentView, grpc: grpcView };

/** The same value with every object's keys in reverse order (arrays keep their order). */
export function reverseKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => reverseKeys(v)) as T;
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).reverse().map(([k, v]) => [k, reverseKeys(v)])) as T;
}
