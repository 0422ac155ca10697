// The status page's HTML shell. It carries no mesh data: everything on the
// page is fetched by app.js from the admin API with the admin token, so the
// shell (and its CSS and JS) can be served without credentials.
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>meshfed status</title>
<link rel="stylesheet" href="/ui/app.css">
</head>
<body data-state="loading">
<header>
  <h1>meshfed</h1>
  <span id="replica"></span>
  <span id="rotation"></span>
  <span class="grow"></span>
  <span id="state" role="status">loading…</span>
  <span id="updated"></span>
</header>
<form id="auth" hidden>
  <label for="token">This controller needs its admin token (kept in this tab only):</label>
  <input id="token" type="password" autocomplete="off" spellcheck="false">
  <button type="submit">Show the mesh</button>
</form>
<main>
  <section id="overview" aria-label="overview"></section>
  <section><h2>Providers</h2><div id="providers"></div></section>
  <section><h2>Services</h2><div id="services"></div><div id="conflicts"></div></section>
  <section><h2>Participants</h2><div id="participants"></div><h3>Not participating, and the missing leg</h3><div id="incomplete"></div></section>
  <section><h2>Proxies</h2><div id="proxies"></div></section>
  <section><h2>Certificates, by expiry</h2><div id="certificates"></div></section>
</main>
<script src="/ui/app.js"></script>
</body>
</html>
`;
