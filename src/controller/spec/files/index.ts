/** The mesh spec from a directory of SMI YAML files. DESIGN.md §2 (spec/files). */
export { FileMeshSpec, type FileMeshSpecOptions } from "./file-mesh-spec.js";
