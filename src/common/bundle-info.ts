/**
 * Facts the agent bundle (dist/agent-bundle, built by src/installer/bundle-build.ts)
 * cannot find the usual way: inside one bundled file, `import.meta.url` is the
 * bundle's location, not the source tree's, so paths relative to it and the
 * package.json lookup would point nowhere. esbuild replaces these identifiers
 * with string literals at bundle time; in the unbundled build they stay
 * undeclared globals and `typeof` is "undefined" (no ReferenceError).
 */
declare const MESHFED_BUNDLE_VERSION: string | undefined;
declare const MESHFED_BUNDLE_PROTO_FILE: string | undefined;

/** The meshfed version the bundle was built from; undefined when not bundled. */
export const bundledVersion: string | undefined = typeof MESHFED_BUNDLE_VERSION === "string" ? MESHFED_BUNDLE_VERSION : undefined;

/** The proto file relative to the bundle file; undefined when not bundled. */
export const bundledProtoFile: string | undefined = typeof MESHFED_BUNDLE_PROTO_FILE === "string" ? MESHFED_BUNDLE_PROTO_FILE : undefined;
