/**
 * MeshConfig (Kubernetes ConfigMap) overrides the file's mesh settings and is
 * hot-reloaded: permissive mode and outbound passthrough re-render every proxy, lifetimes apply to
 * certificates issued from then on. A refused value keeps the previous ones.
 */
import { errorCode } from "../../common/errors.js";
import type { MeshSettings } from "../spec/kubernetes/index.js";
import type { Assembly } from "./assembly.js";
import type { Mesh } from "./mesh.js";
import type { SharedState } from "./shared-state.js";
import type { Sources } from "./sources.js";

export function applyMeshConfig(a: Assembly, shared: SharedState, sources: Sources, mesh: Mesh): void {
  const { meshConfig } = sources;
  if (meshConfig === undefined) return;
  const { catalog } = mesh;
  const { certificates } = shared;
  const apply = (s: MeshSettings) => {
    catalog.setPermissive(s.permissive);
    catalog.setOutboundPassthrough(s.outboundPassthrough ?? true);
    try {
      certificates.setLifetimes({ proxyValidity: s.proxyValidityMs, serviceValidity: s.serviceValidityMs, serviceJitter: s.serviceJitterMs, renewBefore: a.config.certificates.renewBefore });
    } catch (err) {
      a.log.error({ err, code: errorCode(err) }, "MeshConfig certificate lifetimes refused; the previous ones stay");
    }
  };
  apply(meshConfig.current());
  const off = meshConfig.on("change", ({ settings, changed }) => {
    a.log.info({ changed }, "MeshConfig changed");
    apply(settings);
  });
  a.closer.defer("mesh-config:apply", off);
}
