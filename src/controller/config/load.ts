import { dirname, isAbsolute, resolve } from "node:path";
import { MeshfedError } from "../../common/errors.js";
import { readConfigFile } from "../../common/config-file.js";
import { validateYaml } from "../../common/yaml-input.js";
import { kubernetesProviderConfigSchema } from "../kube/config-schema.js";
import { parseStoreLocation } from "../store/store-location.js";
import { controllerConfigSchema, type ControllerConfig } from "./schema.js";

export const CONFIG_INVALID = "MESHFED_CONFIG_INVALID";

/** Flags given on the command line; each overrides the config file. Paths are relative to the working directory. */
export interface ConfigOverrides {
  readonly dataDir?: string;
  readonly adminAddress?: string;
  readonly grpcAddress?: string;
  readonly hostsFile?: string;
  readonly smiDirectory?: string;
  readonly logLevel?: string;
  readonly kubeconfig?: string;
  /** `file` or `etcd://host:port[,...]`. */
  readonly store?: string;
}

/** Parses and validates config text; relative paths are resolved against `baseDir`. */
export function parseControllerConfig(text: string, file: string, baseDir = dirname(file)): ControllerConfig {
  // An empty file is a config of defaults.
  const { value } = validateYaml(text, file, controllerConfigSchema, { syntaxCode: CONFIG_INVALID, prepare: (raw) => raw ?? {} });
  return resolvePaths(value, baseDir);
}

export async function loadControllerConfig(file: string | undefined, overrides: ConfigOverrides = {}): Promise<ControllerConfig> {
  let config: ControllerConfig;
  if (file === undefined) {
    config = controllerConfigSchema.parse({});
    config = resolvePaths(config, process.cwd());
  } else {
    config = parseControllerConfig(await readConfigFile(file), file);
  }
  return applyOverrides(config, overrides);
}

/**
 * Flags go through the same schema as the file, so `--admin-address nonsense`
 * fails with the same named error as the same mistake in the file.
 */
function applyOverrides(config: ControllerConfig, o: ConfigOverrides): ControllerConfig {
  const cwd = process.cwd();
  const patch = {
    dataDir: o.dataDir ?? config.dataDir,
    trustDomain: config.trustDomain,
    logLevel: o.logLevel ?? config.logLevel,
    admin: { address: o.adminAddress ?? config.admin.address },
    grpc: { address: o.grpcAddress ?? config.grpc.address },
  };
  const checked = controllerConfigSchema.pick({ dataDir: true, trustDomain: true, logLevel: true, admin: true, grpc: true }).safeParse(patch);
  if (!checked.success) {
    const first = checked.error.issues[0]!;
    throw new MeshfedError(CONFIG_INVALID, `command-line flag ${first.path.join(".")}: ${first.message}`);
  }
  // Parsed here rather than by the schema so that a bad flag gets the store's own named error.
  if (o.store !== undefined) parseStoreLocation(o.store);
  return {
    ...config,
    ...checked.data,
    // The flag replaces only the address; the rest of the section stays as the file gave it.
    grpc: { ...config.grpc, address: checked.data.grpc.address },
    ...(o.store !== undefined ? { store: o.store } : {}),
    dataDir: o.dataDir !== undefined ? resolve(cwd, o.dataDir) : config.dataDir,
    providers: {
      ...config.providers,
      ...(o.hostsFile !== undefined ? { onprem: { debounce: config.providers.onprem?.debounce ?? 100, hostsFile: resolve(cwd, o.hostsFile) } } : {}),
    },
    ...(o.kubeconfig !== undefined
      ? { providers: { ...config.providers, kubernetes: kubernetesProviderConfigSchema.parse({ ...config.providers.kubernetes, kubeconfig: resolve(cwd, o.kubeconfig) }) } }
      : {}),
    spec: {
      ...config.spec,
      ...(o.smiDirectory !== undefined ? { files: { debounce: config.spec.files?.debounce ?? 100, directory: resolve(cwd, o.smiDirectory) } } : {}),
    },
  };
}

function resolvePaths(config: ControllerConfig, baseDir: string): ControllerConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const { onprem, azure, kubernetes } = config.providers;
  return {
    ...config,
    dataDir: abs(config.dataDir),
    providers: {
      ...config.providers,
      ...(onprem ? { onprem: { ...onprem, hostsFile: abs(onprem.hostsFile) } } : {}),
      ...(azure?.credential.type === "clientSecret" ? { azure: { ...azure, credential: { ...azure.credential, secretFile: abs(azure.credential.secretFile) } } } : {}),
      ...(kubernetes?.kubeconfig !== undefined ? { kubernetes: { ...kubernetes, kubeconfig: abs(kubernetes.kubeconfig) } } : {}),
    },
    spec: { ...config.spec, ...(config.spec.files ? { files: { ...config.spec.files, directory: abs(config.spec.files.directory) } } : {}) },
    bootstrap: resolveBootstrapPaths(config.bootstrap, abs),
  };
}

function resolveBootstrapPaths(bootstrap: ControllerConfig["bootstrap"], abs: (p: string) => string): ControllerConfig["bootstrap"] {
  const imds = bootstrap.azureImds;
  if (imds === undefined) return bootstrap;
  return { ...bootstrap, azureImds: { ...imds, rootsFile: abs(imds.rootsFile), ...(imds.intermediatesFile === undefined ? {} : { intermediatesFile: abs(imds.intermediatesFile) }) } };
}
