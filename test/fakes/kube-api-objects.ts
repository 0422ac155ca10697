/** Builders for the objects the Kubernetes tests put into the fake API server. */
import type { KubeObject } from "./kube-api-server.js";

export function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { metadata: { name, labels } };
}

export function meshedNamespace(name: string, mesh = "meshfed"): KubeObject {
  return namespace(name, { "meshfed.io/monitored-by": mesh });
}

export function service(ns: string, name: string, ports: { name?: string; port: number; targetPort?: number | string; protocol?: string }[] = [{ name: "http", port: 80, targetPort: 8080 }], clusterIP?: string): KubeObject {
  return {
    metadata: { name, namespace: ns },
    spec: { type: "ClusterIP", ...(clusterIP === undefined ? {} : { clusterIP, clusterIPs: [clusterIP] }), selector: { app: name }, ports: ports.map((p) => ({ protocol: "TCP", ...p })) },
  };
}

export interface SliceEndpoint {
  addresses: string[];
  ready?: boolean | null;
  pod?: string;
}

export function slice(
  ns: string,
  name: string,
  serviceName: string | undefined,
  endpoints: SliceEndpoint[],
  ports: { name?: string; port?: number | null; protocol?: string }[] = [{ name: "http", port: 8080 }],
  addressType = "IPv4",
): KubeObject {
  return {
    metadata: { name, namespace: ns, labels: serviceName === undefined ? {} : { "kubernetes.io/service-name": serviceName, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io" } },
    addressType,
    endpoints: endpoints.map((e) => ({
      addresses: e.addresses,
      conditions: e.ready === null ? {} : { ready: e.ready ?? true, serving: e.ready ?? true, terminating: false },
      ...(e.pod === undefined ? {} : { targetRef: { kind: "Pod", namespace: ns, name: e.pod } }),
    })),
    ports: ports.map((p) => ({ protocol: "TCP", ...p })),
  };
}

export function pod(ns: string, name: string, ip: string, ports: { name: string; containerPort: number }[] = [], serviceAccountName = "default"): KubeObject {
  return {
    metadata: { name, namespace: ns },
    spec: { serviceAccountName, containers: [{ name: "app", image: "app:1", ports }] },
    status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
  };
}

export function configMap(ns: string, name: string, data: Record<string, string>): KubeObject {
  return { metadata: { name, namespace: ns }, data };
}
