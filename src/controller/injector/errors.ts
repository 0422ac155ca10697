/** Error codes of the sidecar injector (docs/kubernetes.md "Sidecar injection"). */
export const INJECTOR_ERROR = {
  /** The injector's configuration cannot work (no repo address, a driver without a sidecar). */
  config: "MESHFED_INJECTOR_CONFIG",
  /** The webhook port could not be bound. */
  bind: "MESHFED_INJECTOR_BIND",
  /** The bootstrap Secret could not be created. */
  secret: "MESHFED_INJECTOR_SECRET",
  /** The MutatingWebhookConfiguration could not be read or patched. */
  caBundle: "MESHFED_INJECTOR_CA_BUNDLE",
  /** The pod's namespace could not be read (to confirm a label the cache has not seen yet). */
  namespace: "MESHFED_INJECTOR_NAMESPACE",
  /** The webhook configuration (failurePolicy Fail) can be called for kube-system, kube-public or the controller's namespace. */
  webhookUnsafe: "MESHFED_INJECTOR_WEBHOOK_UNSAFE",
} as const;
