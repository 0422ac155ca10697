// The status page's script: plain browser JavaScript, no framework and no
// build. It polls the admin API (the same JSON the CLI reads) and rebuilds
// the tables. Every value from the API reaches the page through
// textContent / createTextNode, never as markup: names, error messages and
// provider sources come from files and cloud tags that an attacker may write.
// (No backquotes or dollar-braces below: this text sits in a template literal.)
export const STATUS_PAGE_JS = String.raw`"use strict";
(function () {
  var TOKEN_KEY = "meshfed-admin-token";
  var REFRESH_MS = 2000;
  var timer = null;

  function $(id) { return document.getElementById(id); }

  // A token in the fragment (#token=...) never reaches the server or its logs;
  // it is moved into this tab's sessionStorage and removed from the address bar.
  function takeTokenFromFragment() {
    var m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (!m) return;
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) node.setAttribute(k, String(attrs[k]));
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function append(node, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }

  function Unauthorized() {}

  function get(path) {
    var token = sessionStorage.getItem(TOKEN_KEY);
    var headers = token ? { authorization: "Bearer " + token } : {};
    return fetch(path, { headers: headers, cache: "no-store", credentials: "omit" }).then(function (res) {
      if (res.status === 401) throw new Unauthorized();
      if (!res.ok) throw new Error(path + " answered " + res.status);
      return res.json();
    });
  }

  function ago(iso) {
    if (!iso) return "never";
    var s = Math.round((Date.now() - Date.parse(iso)) / 1000);
    return s < 0 ? "in " + span(-s) : span(s) + " ago";
  }
  function span(s) {
    if (s < 90) return s + "s";
    if (s < 5400) return Math.round(s / 60) + "m";
    if (s < 172800) return Math.round(s / 3600) + "h";
    return Math.round(s / 86400) + "d";
  }
  function badge(text, cls) { return el("span", { "class": "badge " + cls }, text); }

  function table(id, headers, rows, empty) {
    var body = el("tbody", null, rows.length > 0 ? rows : el("tr", { "class": "empty" }, el("td", { colspan: headers.length }, empty)));
    return el("table", { id: id }, el("thead", null, el("tr", null, headers.map(function (h) { return el("th", null, h); }))), body);
  }
  function show(id, node) { $(id).replaceChildren(node); }

  function card(label, value, cls) { return el("div", { "class": "card" }, el("b", { "class": cls || "" }, value), label); }

  function renderOverview(d) {
    var soon = d.certificates.filter(function (c) { return c.state !== "revoked" && Date.parse(c.notAfter) - Date.now() < 3600e3; }).length;
    var degraded = d.providers.filter(function (p) { return p.state !== "synced"; }).length;
    $("overview").replaceChildren(
      card("services", d.catalog.services.length),
      card("endpoints", d.catalog.services.reduce(function (n, s) { return n + s.endpoints.length; }, 0)),
      card("participants", d.participants.participants.length, "ok"),
      card("not participating", d.participants.incomplete.length, d.participants.incomplete.length ? "warn" : ""),
      card("proxies connected", d.proxies.length),
      card("conflicts", d.catalog.conflicts.length, d.catalog.conflicts.length ? "bad" : ""),
      card("providers not synced", degraded, degraded ? "bad" : ""),
      card("certificates expiring within 1h", soon, soon ? "warn" : ""));
    $("replica").textContent = "replica " + d.replica.replicaId + (d.replica.leader ? " (leader)" : " (follower of " + (d.replica.leaderId || "nobody") + ")") + ", store " + d.replica.store;
    $("rotation").textContent = d.rotation ? "CA rotation: " + d.rotation.phase + (d.rotation.stragglerCount ? ", " + d.rotation.stragglerCount + " stragglers" : "") : "";
  }

  function renderProviders(list) {
    show("providers", table("providers-table", ["provider", "kind", "state", "last sync", "counts", "last error"], list.map(function (p) {
      var cls = p.state === "synced" ? "ok" : p.state === "starting" ? "warn" : "bad";
      var counts = Object.keys(p.counts).filter(function (k) { return p.counts[k] !== 0; }).map(function (k) { return k + " " + p.counts[k]; }).join(", ");
      var err = p.lastError ? [el("span", { "class": "mono" }, p.lastError.code), " ", p.lastError.message] : "";
      return el("tr", { "data-key": p.id }, el("td", { "class": "mono" }, p.id), el("td", null, p.kind), el("td", null, badge(p.state, cls)),
        el("td", null, ago(p.lastSync)), el("td", null, counts), el("td", null, err));
    }), "no providers"));
  }

  function renderServices(catalog) {
    var conflicted = {};
    catalog.conflicts.forEach(function (c) { conflicted[c.ip + ":" + c.port] = c; });
    show("services", table("services-table", ["service", "VIP", "endpoints (protocol, account, sources)"], catalog.services.map(function (s) {
      var key = s.namespace + "/" + s.name;
      var eps = el("ul", { "class": "plain" }, s.endpoints.map(function (e) {
        var addr = e.ip + ":" + e.port;
        var c = conflicted[addr];
        return el("li", null, el("span", { "class": "mono" }, addr), " ", e.protocol, " as ", e.serviceAccount, " ",
          el("span", { "class": "muted" }, "from " + e.sources.join(", ")), c ? [" ", badge("conflict, " + c.resolution + ": " + c.winner + " keeps it", "bad")] : "");
      }));
      return el("tr", { "data-key": key }, el("td", { "class": "mono" }, key), el("td", { "class": "mono" }, s.vip || "—"), el("td", null, s.endpoints.length ? eps : el("span", { "class": "muted" }, "no endpoints")));
    }), "no services discovered"));
    show("conflicts", catalog.conflicts.length === 0 ? el("p", { "class": "muted" }, "No endpoint is claimed by two services.") :
      table("conflicts-table", ["endpoint", "claimed by", "kept by"], catalog.conflicts.map(function (c) {
        return el("tr", { "data-key": c.ip + ":" + c.port }, el("td", { "class": "mono" }, c.ip + ":" + c.port),
          el("td", null, c.claims.map(function (cl) { return cl.service + " (" + cl.sources.join(", ") + ")"; }).join("; ")),
          el("td", null, c.winner + " by " + c.resolution));
      }), ""));
  }

  function renderParticipants(report) {
    show("participants", table("participants-table", ["service", "identity", "proxy", "endpoints"], report.participants.map(function (p) {
      return el("tr", { "data-key": p.proxyId }, el("td", { "class": "mono" }, p.service), el("td", { "class": "mono" }, p.identity),
        el("td", { "class": "mono" }, p.proxyId + (p.pod ? " (pod " + p.pod + ")" : "")),
        el("td", { "class": "mono" }, p.endpoints.map(function (e) { return e.ip + ":" + e.port; }).join(", ")));
    }), "no participants yet"));
    show("incomplete", table("incomplete-table", ["what", "service", "detail", "missing"], report.incomplete.map(function (r) {
      var detail = r.kind === "endpoint" ? r.ip + ":" + r.port + (r.sources ? " from " + r.sources.join(", ") : "") : r.kind === "proxy" ? r.proxyId : r.serial + (r.proxyId ? " (" + r.proxyId + ")" : "");
      return el("tr", { "data-kind": r.kind }, el("td", null, r.kind), el("td", { "class": "mono" }, r.service), el("td", { "class": "mono" }, detail),
        el("td", null, r.missing.map(function (leg) { return badge(leg, "warn"); })));
    }), "everything discovered participates"));
  }

  function renderProxies(list) {
    show("proxies", table("proxies-table", ["proxy", "service", "identity", "config", "last ACK", "health", "agent", "connected"], list.map(function (p) {
      var ack = p.lastAck ? [badge(p.lastAck.ok ? "ACK" : "NACK", p.lastAck.ok ? "ok" : "bad"), " v" + p.lastAck.version + ", " + ago(p.lastAck.at), p.lastAck.ok ? "" : el("div", { "class": "bad" }, p.lastAck.error)] : el("span", { "class": "muted" }, "none yet");
      var lagging = p.config && p.lastAck && p.lastAck.version !== p.config.version;
      var health = p.health ? [badge(p.health.proxyState, p.health.proxyState === "running" || p.health.proxyState === "disabled" ? "ok" : "warn"), p.health.detail ? " " + p.health.detail : ""] : el("span", { "class": "muted" }, "no report");
      return el("tr", { "data-key": p.proxyId }, el("td", { "class": "mono" }, p.proxyId), el("td", { "class": "mono" }, p.service), el("td", { "class": "mono" }, p.identity || ""),
        el("td", null, p.config ? "v" + p.config.version + (lagging ? " (not ACKed yet)" : "") : "—"), el("td", null, ack), el("td", null, health),
        el("td", null, p.agentVersion + (p.proxyVersion ? ", pipy " + p.proxyVersion : "")), el("td", null, ago(p.connectedAt)));
    }), "no proxy is connected"));
  }

  function renderCertificates(list) {
    var sorted = list.slice().sort(function (a, b) { return Date.parse(a.notAfter) - Date.parse(b.notAfter); });
    show("certificates", table("certificates-table", ["expires", "kind", "identity", "service", "state", "serial"], sorted.map(function (c) {
      var left = Date.parse(c.notAfter) - Date.now();
      var cls = c.state === "revoked" ? "muted" : left < 3600e3 ? "bad" : left < 86400e3 ? "warn" : "ok";
      return el("tr", { "data-key": c.serial }, el("td", { "class": cls, title: c.notAfter }, left < 0 ? "expired " + ago(c.notAfter) : ago(c.notAfter)),
        el("td", null, c.kind), el("td", { "class": "mono" }, c.identity), el("td", { "class": "mono" }, c.service || ""),
        el("td", null, c.state + (c.revocationReason ? " (" + c.revocationReason + ")" : "")), el("td", { "class": "mono" }, c.serial.slice(0, 16)));
    }), "no certificates issued"));
  }

  function setState(state, text) {
    document.body.setAttribute("data-state", state);
    $("state").textContent = text;
  }

  function refresh() {
    clearTimeout(timer);
    // A hidden tab does not poll; it catches up when shown.
    if (document.hidden) { timer = setTimeout(refresh, REFRESH_MS); return; }
    Promise.all([get("/api/v1/catalog"), get("/api/v1/participants"), get("/api/v1/proxies"), get("/api/v1/certificates"),
      get("/api/v1/providers"), get("/api/v1/ca/rotation").catch(function (e) { if (e instanceof Unauthorized) throw e; return null; }), get("/api/v1/replica")])
      .then(function (r) {
        var d = { catalog: r[0], participants: r[1], proxies: r[2], certificates: r[3], providers: r[4], rotation: r[5], replica: r[6] };
        $("auth").hidden = true;
        renderOverview(d);
        renderProviders(d.providers);
        renderServices(d.catalog);
        renderParticipants(d.participants);
        renderProxies(d.proxies);
        renderCertificates(d.certificates);
        setState("live", "live");
        $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      }, function (err) {
        if (err instanceof Unauthorized) {
          setState("unauthorized", "admin token needed");
          $("auth").hidden = false;
          $("token").focus();
        } else {
          setState("error", "controller unreachable: " + (err && err.message ? err.message : String(err)));
        }
      })
      .then(function () { timer = setTimeout(refresh, REFRESH_MS); });
  }

  $("auth").addEventListener("submit", function (ev) {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    refresh();
  });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  takeTokenFromFragment();
  refresh();
})();
`;
