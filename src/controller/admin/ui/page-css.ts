// The status page's style sheet: plain CSS, no build step.
export const STATUS_PAGE_CSS = `:root { color-scheme: light dark; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #6e7781; --line: #d0d7de; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; }
header { display: flex; gap: 1em; align-items: baseline; padding: .6em 1em; border-bottom: 1px solid var(--line); position: sticky; top: 0; background: Canvas; }
header h1 { font-size: 1.2em; margin: 0; }
.grow { flex: 1; }
#state { font-weight: 600; }
body[data-state="live"] #state { color: var(--ok); }
body[data-state="error"] #state, body[data-state="unauthorized"] #state { color: var(--bad); }
#updated, .muted { color: var(--muted); }
main { padding: 0 1em 2em; }
section { margin-top: 1.2em; }
h2 { font-size: 1.05em; margin: 0 0 .4em; }
h3 { font-size: .95em; margin: .8em 0 .3em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .25em .6em .25em 0; border-bottom: 1px solid var(--line); }
th { font-weight: 600; white-space: nowrap; }
td.mono, span.mono { font-family: ui-monospace, monospace; font-size: .92em; }
tr.empty td { color: var(--muted); font-style: italic; }
.badge + .badge { margin-left: .3em; }
.badge { display: inline-block; padding: 0 .45em; border-radius: .8em; font-size: .85em; border: 1px solid currentColor; }
.ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); }
#overview { display: flex; flex-wrap: wrap; gap: .6em; }
.card { border: 1px solid var(--line); border-radius: .4em; padding: .4em .8em; min-width: 8em; }
.card b { display: block; font-size: 1.4em; }
#auth { margin: 1em; padding: 1em; border: 1px solid var(--bad); border-radius: .4em; }
#auth input { width: 28em; max-width: 100%; }
ul.plain { list-style: none; margin: 0; padding: 0; }
`;
