/**
 * The smallest SMI policy the control-plane tests share: shop/web may reach
 * shop/db over any TCP. Only the agents announce these services, so what the
 * catalog holds for them is what the agents said.
 */
export const WEB_TO_DB = `apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: web-to-db, namespace: shop }
spec:
  destination: { kind: ServiceAccount, name: db }
  sources: [{ kind: ServiceAccount, name: web }]
  rules: [{ kind: TCPRoute, name: any }]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: { name: any, namespace: shop }
spec: {}
`;
