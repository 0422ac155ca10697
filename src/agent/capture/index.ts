/** Traffic capture on a VM (DESIGN.md §3 flow 6; docs/dataplane.md "Capture"). */
export { CaptureManager, CAPTURE_NONE, removeCapture, type CaptureStatus, type CaptureManagerOptions } from "./manager.js";
export { Iptables, CAPTURE_ERRORS, type IptablesOptions } from "./iptables.js";
export { resolveProxyUser, type ProxyUser } from "./proxy-user.js";
export { captureFromConfig, type CaptureSetup } from "./from-config.js";
