import { source } from './source';

/** `/assets/app.css`: the dashboard's styles (light and dark, system fonts, no web fonts). */
export const APP_CSS = source`
:root {
  --bg: #f6f5f2;
  --surface: #ffffff;
  --surface-2: #f1efea;
  --border: #dedad2;
  --text: #1d1a16;
  --muted: #645d53;
  --accent: #b2431a;
  --accent-strong: #8f3512;
  --focus: #1f6feb;
  --top: #2b1a12;
  --top-text: #fbefe6;
  --ok: #1a7f37;
  --ok-bg: #dafbe1;
  --bad: #c21f2c;
  --bad-bg: #ffebe9;
  --run: #8a5a00;
  --run-bg: #fff3c4;
  --wait: #57606a;
  --wait-bg: #eceae6;
  --info: #0b62c4;
  --info-bg: #ddf0ff;
  --log-bg: #15120f;
  --log-text: #e6e1da;
  --log-muted: #8b857c;
  --radius: 8px;
  --mono: ui-monospace, 'SFMono-Regular', 'Cascadia Mono', 'DejaVu Sans Mono', Menlo, Consolas, monospace;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #141210;
    --surface: #1d1a17;
    --surface-2: #25211d;
    --border: #3a342e;
    --text: #ece7e0;
    --muted: #a89f93;
    --accent: #f08a55;
    --accent-strong: #ffa778;
    --focus: #79b8ff;
    --top: #0e0c0a;
    --ok: #56d364;
    --ok-bg: #12301b;
    --bad: #ff7b72;
    --bad-bg: #3a1514;
    --run: #e3b341;
    --run-bg: #352a0b;
    --wait: #a4aab1;
    --wait-bg: #2a2724;
    --info: #79b8ff;
    --info-bg: #0f2740;
    --log-bg: #0d0b09;
  }
}

* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0;
  font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'DejaVu Sans', sans-serif;
  background: var(--bg);
  color: var(--text);
}
a { color: var(--accent); text-underline-offset: 2px; }
a:hover { color: var(--accent-strong); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 3px; }
h1:focus, main:focus { outline: none; }
code, .mono { font-family: var(--mono); font-size: 0.92em; }
.wrap { overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.strong { font-weight: 600; }
.spacer { flex: 1; }
.sr-only {
  position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
.boot { padding: 2rem; color: var(--muted); }

/* ---- top bar ---- */
.skip-link {
  position: absolute; left: 8px; top: -48px; z-index: 10;
  background: var(--surface); color: var(--text); padding: 8px 12px; border-radius: var(--radius);
}
.skip-link:focus { top: 8px; }
.topbar {
  display: flex; align-items: center; gap: 24px; flex-wrap: wrap;
  padding: 10px 24px; background: var(--top); color: var(--top-text);
}
.brand { display: inline-flex; align-items: center; gap: 8px; color: #f0772f; text-decoration: none; font-weight: 700; font-size: 18px; }
.brand span { color: var(--top-text); letter-spacing: 0.02em; }
.brand:hover { color: #ff965a; }
.mainnav { display: flex; gap: 4px; }
.mainnav a {
  color: var(--top-text); text-decoration: none; padding: 6px 12px; border-radius: 6px; opacity: 0.85;
}
.mainnav a:hover { background: rgba(255, 255, 255, 0.08); opacity: 1; color: var(--top-text); }
.mainnav a[aria-current='page'] { background: rgba(255, 255, 255, 0.14); opacity: 1; font-weight: 600; }
.token-form { display: flex; align-items: center; gap: 8px; font-size: 13px; }
.token-form label { opacity: 0.85; }
.token-form input {
  width: 15em; padding: 5px 8px; border-radius: 6px; border: 1px solid #5a4638;
  background: #1a100b; color: var(--top-text); font-family: var(--mono); font-size: 13px;
}
.banner { background: var(--bad-bg); color: var(--bad); padding: 10px 24px; border-bottom: 1px solid var(--border); }

main { max-width: 1320px; margin: 0 auto; padding: 20px 24px 48px; }

/* ---- page head ---- */
.page-head { margin-bottom: 16px; }
.crumbs ol { list-style: none; display: flex; gap: 6px; padding: 0; margin: 0 0 4px; font-size: 13px; }
.crumbs li + li::before { content: '/'; color: var(--muted); margin-right: 6px; }
.page-title { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
h1 { font-size: 24px; line-height: 1.25; margin: 0; }
h2 { font-size: 15px; margin: 0 0 10px; }

/* ---- buttons and forms ---- */
.btn {
  display: inline-flex; align-items: center; gap: 6px;
  font: inherit; font-size: 14px; line-height: 1.2; padding: 7px 14px; border-radius: 6px;
  border: 1px solid var(--border); background: var(--surface); color: var(--text);
  cursor: pointer; text-decoration: none;
}
.btn:hover { background: var(--surface-2); color: var(--text); }
.btn:disabled { opacity: 0.5; cursor: default; }
.btn-small { font-size: 12.5px; padding: 4px 10px; }
.btn-primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.btn-primary:hover { background: var(--accent-strong); color: #fff; }
.btn-danger { color: var(--bad); border-color: var(--bad); }
.btn[aria-pressed='true'] { background: var(--info-bg); border-color: var(--info); color: var(--info); }
.toolbar { display: flex; justify-content: space-between; align-items: flex-end; gap: 12px 24px; flex-wrap: wrap; margin: 16px 0 12px; }
.inline-form { display: flex; align-items: flex-end; gap: 10px; flex-wrap: wrap; }
.inline-form label { display: flex; flex-direction: column; font-size: 12.5px; color: var(--muted); gap: 3px; }
input, select {
  font: inherit; font-size: 14px; padding: 6px 8px; border-radius: 6px;
  border: 1px solid var(--border); background: var(--surface); color: var(--text);
}

/* ---- cards, tables, facts ---- */
.card { background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); }
.table-wrap { overflow-x: auto; }
.table { width: 100%; border-collapse: collapse; font-size: 14px; }
.table th, .table td { text-align: left; padding: 10px 14px; border-bottom: 1px solid var(--border); vertical-align: top; }
.table thead th { font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); font-weight: 600; background: var(--surface-2); }
.table tbody tr:last-child > * { border-bottom: 0; }
.table tbody tr:hover { background: var(--surface-2); }
.table tbody th { font-weight: 500; }
.builds .commit .msg { color: var(--muted); max-width: 44ch; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.build-link { text-decoration: none; display: inline-flex; align-items: center; gap: 8px; }
.tag {
  display: inline-block; font-size: 12px; padding: 1px 7px; border-radius: 999px;
  background: var(--surface-2); border: 1px solid var(--border); color: var(--muted);
}
.facts {
  display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 12px 24px;
  margin: 0 0 16px; padding: 14px 18px;
}
.facts dt { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.04em; }
.facts dd { margin: 2px 0 0; overflow-wrap: anywhere; }
.fact-wide { grid-column: span 2; }
.note { padding: 10px 14px; border-radius: var(--radius); background: var(--info-bg); color: var(--info); margin: 10px 0; }
.note-error { background: var(--bad-bg); color: var(--bad); }
.empty { padding: 24px; text-align: center; color: var(--muted); background: var(--surface); border: 1px dashed var(--border); border-radius: var(--radius); }
.snippet { text-align: left; display: inline-block; font-family: var(--mono); font-size: 13px; background: var(--surface-2); padding: 10px 14px; border-radius: 6px; white-space: pre-wrap; }

/* ---- status badges (icon + word, never colour alone) ---- */
.badge {
  display: inline-flex; align-items: center; gap: 5px; white-space: nowrap;
  font-size: 12.5px; font-weight: 600; padding: 2px 9px 2px 7px; border-radius: 999px;
  background: var(--wait-bg); color: var(--wait);
}
.badge-icon { font-size: 11px; width: 1em; text-align: center; }
.st-succeeded, .st-warm, .st-live { background: var(--ok-bg); color: var(--ok); }
.st-failed, .st-timed_out, .st-rolled_back { background: var(--bad-bg); color: var(--bad); }
.st-running, .st-assigned, .st-leased, .st-deploying { background: var(--run-bg); color: var(--run); }
.st-warming, .st-provisioning { background: var(--info-bg); color: var(--info); }
.st-running .badge-icon, .st-leased .badge-icon, .st-deploying .badge-icon { animation: pulse 1.2s ease-in-out infinite; }
@keyframes pulse { 50% { opacity: 0.35; } }
@media (prefers-reduced-motion: reduce) {
  .st-running .badge-icon, .st-leased .badge-icon, .st-deploying .badge-icon, .conn-live .conn-dot { animation: none; }
}

/* ---- pool ---- */
.stats { list-style: none; padding: 0; margin: 0 0 12px; display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 12px; }
.stat { background: var(--surface); border: 1px solid var(--border); border-left-width: 5px; border-radius: var(--radius); padding: 14px 18px; display: grid; grid-template-columns: auto 1fr; align-items: baseline; column-gap: 10px; }
.stat-n { font-size: 34px; font-weight: 700; line-height: 1; }
.stat-label { font-weight: 600; font-size: 16px; }
.stat-help { grid-column: 1 / -1; color: var(--muted); font-size: 13px; margin-top: 6px; }
.stat-warm { border-left-color: var(--ok); }
.stat-cold { border-left-color: var(--info); }
.stat-leased { border-left-color: var(--run); }

/* ---- build page ---- */
.build-status { display: inline-flex; }
.build-status .badge { font-size: 14px; padding: 4px 12px 4px 9px; }
.build-body { display: grid; grid-template-columns: minmax(260px, 330px) minmax(0, 1fr); gap: 16px; align-items: start; }
@media (max-width: 900px) { .build-body { grid-template-columns: minmax(0, 1fr); } }
.steps-panel { padding: 14px 14px 8px; position: sticky; top: 12px; }
.steps { list-style: none; margin: 0; padding: 0; }
.step {
  display: grid; grid-template-columns: minmax(0, 1fr) auto; grid-template-areas: 'name jump' 'meta jump';
  column-gap: 10px; row-gap: 4px; align-items: center; padding: 9px 2px; border-top: 1px solid var(--border);
}
.step:first-child { border-top: 0; }
.step-name { grid-area: name; font-weight: 600; overflow-wrap: anywhere; }
.step-meta { grid-area: meta; display: flex; align-items: center; flex-wrap: wrap; gap: 4px 10px; font-size: 12.5px; color: var(--muted); font-variant-numeric: tabular-nums; }
.step-jump { grid-area: jump; }

/* ---- deploy (beside the build) ---- */
.deploys { padding: 12px 16px 6px; margin-bottom: 16px; }
.deploys h2 { margin: 0 0 6px; }
.deploy + .deploy { border-top: 1px solid var(--border); margin-top: 8px; padding-top: 8px; }
.deploy-head { display: flex; align-items: center; flex-wrap: wrap; gap: 6px 12px; margin: 0 0 4px; }
.deploy-env { font-weight: 700; font-size: 16px; }
.deploy-summary { margin: 0 0 6px; }
.deploy-summary-failed .deploy-reason, .deploy-summary-rolled_back .deploy-reason, .deploy-instance .deploy-reason { color: var(--bad); }
.deploy-instances .step { grid-template-areas: 'name name' 'meta meta'; }
.deploy-warning { color: var(--run); }

/* ---- log ---- */
.log-panel { min-width: 0; }
.log-bar { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; margin-bottom: 8px; }
.log-bar h2 { margin: 0; }
.conn { display: inline-flex; align-items: center; gap: 6px; font-size: 13px; color: var(--muted); }
.conn-dot { width: 8px; height: 8px; border-radius: 50%; background: var(--wait); }
.conn-live .conn-dot { background: var(--ok); animation: pulse 1.6s ease-in-out infinite; }
.conn-live { color: var(--ok); }
.conn-reconnecting .conn-dot, .conn-connecting .conn-dot { background: var(--run); }
.conn-failed { color: var(--bad); }
.conn-failed .conn-dot { background: var(--bad); }
.log-count { font-size: 13px; font-variant-numeric: tabular-nums; }
.log-wrap { position: relative; }
.log {
  position: relative; height: min(68vh, 760px); min-height: 260px; overflow: auto;
  background: var(--log-bg); color: var(--log-text); border-radius: var(--radius);
  font: 13px/1.55 var(--mono); padding: 8px 0; scroll-behavior: auto;
}
.log:focus-visible { outline-offset: -3px; }
.ln { display: flex; padding: 0 14px 0 0; min-height: 1.55em; }
.ln:hover { background: rgba(255, 255, 255, 0.05); }
.ln-n {
  flex: none; width: 4.5em; padding-right: 12px; text-align: right; color: var(--log-muted);
  user-select: none; -webkit-user-select: none; font-variant-numeric: tabular-nums;
}
.ln-t { white-space: pre-wrap; overflow-wrap: anywhere; min-width: 0; }
.ln-stderr .ln-t { color: #ffb4ab; }
.ln-system .ln-t { color: #7fd4e6; }
.ln-step-start { margin-top: 6px; border-top: 1px solid rgba(255, 255, 255, 0.12); padding-top: 6px; }
.ln-step-start .ln-t { font-weight: 700; }
.ln-attempt-start { border-top: 2px solid #e3b341; }
.ln:focus { outline: none; }
.ln-flash { background: rgba(240, 119, 47, 0.28); transition: background 1.2s; }
.log-empty { color: var(--log-muted); padding: 8px 16px; margin: 0; }
.new-lines { position: absolute; right: 18px; bottom: 14px; box-shadow: 0 2px 10px rgba(0, 0, 0, 0.35); }

/* ANSI colours (SGR 30–37, 90–97) tuned for the dark log background */
.ansi-bold { font-weight: 700; }
.ansi-black { color: #7d8590; }
.ansi-red { color: #ff7b72; }
.ansi-green { color: #7ee787; }
.ansi-yellow { color: #e3b341; }
.ansi-blue { color: #79c0ff; }
.ansi-magenta { color: #d2a8ff; }
.ansi-cyan { color: #56d4dd; }
.ansi-white { color: #d0d7de; }
.ansi-bright-black { color: #9ea7b3; }
.ansi-bright-red { color: #ffa198; }
.ansi-bright-green { color: #aff5b4; }
.ansi-bright-yellow { color: #f8e3a1; }
.ansi-bright-blue { color: #a5d6ff; }
.ansi-bright-magenta { color: #e2c5ff; }
.ansi-bright-cyan { color: #b3f0ff; }
.ansi-bright-white { color: #ffffff; }

@media (max-width: 700px) {
  .topbar { padding: 10px 14px; gap: 12px; }
  main { padding: 14px; }
  .token-form input { width: 10em; }
  .fact-wide { grid-column: auto; }
}
`;
