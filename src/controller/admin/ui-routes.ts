/**
 * The status page at /ui (docs/operations.md "Status page"). The three files
 * are static and hold no mesh data, so they are served without the admin
 * token; the page's script asks for the token and sends it with every API
 * call. The headers keep the page from running anything but its own script
 * (a provider error or a service name can never become markup or a request
 * to another origin) and from being framed.
 */
import { STATUS_PAGE_CSS } from "./ui/page-css.js";
import { STATUS_PAGE_HTML } from "./ui/page-html.js";
import { STATUS_PAGE_JS } from "./ui/page-js.js";
import type { AdminResponse, AdminRouter } from "./router.js";

/** Paths the admin server serves without a token. */
export const UI_PATHS = ["/ui", "/ui/", "/ui/app.js", "/ui/app.css"] as const;

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
} as const;

const file = (body: string, contentType: string): AdminResponse => ({ status: 200, body, contentType, headers: SECURITY_HEADERS });

export function addUiRoutes(router: AdminRouter): AdminRouter {
  const page = () => file(STATUS_PAGE_HTML, "text/html; charset=utf-8");
  return router
    .add("GET", "/ui", page)
    .add("GET", "/ui/", page)
    .add("GET", "/ui/app.js", () => file(STATUS_PAGE_JS, "text/javascript; charset=utf-8"))
    .add("GET", "/ui/app.css", () => file(STATUS_PAGE_CSS, "text/css; charset=utf-8"));
}
