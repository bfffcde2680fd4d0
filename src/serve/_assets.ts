/**
 * The dashboard's one stylesheet and one script, served as `/assets/app.css`
 * and `/assets/app.js` (the Content-Security-Policy allows no inline script
 * or style). Kept in the module, so that they are in the compiled binary.
 *
 * @module
 */

/** The stylesheet. */
export const STYLESHEET = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #5b6470; --bg: #fff; --line: #d8dde3; --ok: #1a7f37;
  --bad: #cf222e; --warn: #9a6700; --accent: #0969da; --panel: #f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #8d96a0; --bg: #0d1117; --line: #30363d;
  --ok: #3fb950; --bad: #f85149; --warn: #d29922; --accent: #58a6ff; --panel: #161b22; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5em; align-items: baseline; padding: .6em 1.2em; border-bottom: 1px solid var(--line);
  background: var(--panel); }
header h1 { font-size: 16px; margin: 0; }
header .root { color: var(--muted); font-family: ui-monospace, monospace; font-size: 12px; }
header .live { margin-left: auto; color: var(--muted); font-size: 12px; }
main { padding: 1em 1.2em; }
h2 { font-size: 15px; margin: 1.4em 0 .5em; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
code, pre, .mono { font-family: ui-monospace, monospace; font-size: 12.5px; }
pre { background: var(--panel); border: 1px solid var(--line); padding: .7em; overflow: auto; max-height: 30em;
  white-space: pre-wrap; word-break: break-word; }
.state { font-weight: 600; }
.state.ok { color: var(--ok); }
.state.failing { color: var(--bad); }
.state.retrying, .state.paused, .warn { color: var(--warn); }
.muted { color: var(--muted); }
.chart { display: block; }
.chart .handled { fill: none; stroke: var(--ok); stroke-width: 1.5; }
.chart .errors { fill: none; stroke: var(--bad); stroke-width: 1.5; }
.chart .base { stroke: var(--line); stroke-width: 1; }
.cards { display: flex; gap: 1em; flex-wrap: wrap; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .5em .9em; background: var(--panel); }
.card b { display: block; font-size: 18px; }
.timeline { list-style: none; padding: 0; margin: 0; border-left: 2px solid var(--line); }
.timeline li { margin: 0 0 .8em .9em; position: relative; }
.timeline li::before { content: ""; position: absolute; left: -1.32em; top: .45em; width: .6em; height: .6em;
  border-radius: 50%; background: var(--bad); }
.timeline li.REQUEUED::before { background: var(--accent); }
form.inline { display: inline; }
button { font: inherit; padding: .25em .8em; border: 1px solid var(--line); border-radius: 5px; background: var(--bg);
  color: var(--fg); cursor: pointer; }
button.danger { border-color: var(--bad); color: var(--bad); }
.notice { border: 1px solid var(--line); border-left: 4px solid var(--accent); padding: .6em .9em;
  background: var(--panel); margin: 1em 0; }
.notice.bad { border-left-color: var(--bad); }
label { margin-right: 1em; }
input[type=text], input[type=password] { font: inherit; padding: .25em .4em; }
`;

/**
 * The script: on the overview, replaces the listener table with each
 * `overview` event of `/events` (server-sent events; the server renders the
 * HTML once per scan for every open page) and shows when it last did.
 */
export const SCRIPT = `"use strict";
(function () {
  var target = document.getElementById("overview");
  if (!target || !window.EventSource) return;
  var live = document.getElementById("live");
  var source = new EventSource("/events");
  source.addEventListener("overview", function (event) {
    target.innerHTML = event.data;
    if (live) live.textContent = "live, updated " + new Date().toLocaleTimeString();
  });
  source.onerror = function () { if (live) live.textContent = "reconnecting..."; };
})();
`;
