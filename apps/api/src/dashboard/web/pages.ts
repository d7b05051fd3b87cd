import { source } from './source';

/**
 * `/assets/pages.js`: the projects list, a project's builds, the worker pool.
 *
 * Lists poll (the API has no stream of build status changes: the log SSE of a build carries
 * its lines and its final status, not queued → assigned → running): every 2 s while something
 * on screen is queued or running, every 5 s otherwise (the projects list, which asks for each
 * project's newest build, every 5 s / 15 s), never while the tab is hidden.
 */
export const PAGES_JS = source`
import { useState } from 'preact/hooks';
import { html, api, enc, href, navigate, useResource, useTitle, useNow, isFinal, shortId, span, StatusBadge, Ago, ErrorNote, Loading, PageHeader } from './lib.js';

const ACTIVE_MS = 2000;
const IDLE_MS = 5000;

// ---- projects ----------------------------------------------------------------------------

export function ProjectsPage() {
  useTitle('Projects');
  const projects = useResource(
    async () => {
      const { items } = await api('api/projects');
      // each project's newest build, for the status column (first 50 projects: one request each)
      const latest = await Promise.all(
        items.slice(0, 50).map((p) => api('api/projects/' + enc(p.id) + '/builds?limit=1').then((r) => r.items[0] || null, () => null)),
      );
      return items.map((p, i) => ({ ...p, latest: latest[i] || null }));
    },
    [],
    (data) => (data && data.some((p) => p.latest && !isFinal(p.latest.status)) ? 5000 : 15000),
  );
  const list = projects.data;
  return html\`
    <\${PageHeader} title="Projects" />
    <\${ErrorNote} error=\${projects.error} what="Could not load the projects" />
    \${projects.loading && html\`<\${Loading} what="projects" />\`}
    \${list && list.length === 0 && html\`<div class="empty">
      <p>No projects yet. Create one with the API or the CLI:</p>
      <pre class="snippet">kiln projects create --name app --repo https://github.com/acme/app.git --provider github --branch main</pre>
    </div>\`}
    \${list && list.length > 0 && html\`<div class="card table-wrap">
      <table class="table">
        <caption class="sr-only">Projects and their latest build</caption>
        <thead><tr>
          <th scope="col">Project</th><th scope="col">Repository</th><th scope="col">Branches</th><th scope="col">Latest build</th><th scope="col">Created</th>
        </tr></thead>
        <tbody>\${list.map((p) => html\`<tr key=\${p.id}>
          <th scope="row"><a class="strong" href=\${href.project(p.id)}>\${p.name}</a></th>
          <td><span class="mono wrap">\${p.repoUrl}</span> <span class="tag">\${p.provider}</span></td>
          <td>\${p.branches && p.branches.length ? p.branches.map((b) => html\`<span class="tag mono">\${b}</span> \`) : html\`<span class="muted">all</span>\`}</td>
          <td>\${p.latest
            ? html\`<a class="build-link" href=\${href.build(p.latest.id)} aria-label=\${'Build ' + shortId(p.latest.id) + ', ' + p.latest.status}><\${StatusBadge} status=\${p.latest.status} /> <span class="muted"><\${Ago} iso=\${p.latest.requestedAt} /></span></a>\`
            : html\`<span class="muted">none yet</span>\`}</td>
          <td><\${Ago} iso=\${p.createdAt} /></td>
        </tr>\`)}</tbody>
      </table>
    </div>\`}\`;
}

// ---- a project's builds ------------------------------------------------------------------

const STATUSES = ['queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out'];

export function ProjectPage({ id }) {
  const project = useResource(() => api('api/projects/' + enc(id)), [id], 0);
  const [status, setStatus] = useState('');
  const [branch, setBranch] = useState('');
  const [branchInput, setBranchInput] = useState('');
  const [limit, setLimit] = useState(25);
  const builds = useResource(
    () => {
      const q = new URLSearchParams({ limit: String(limit) });
      if (status) q.set('status', status);
      if (branch) q.set('branch', branch);
      return api('api/projects/' + enc(id) + '/builds?' + q);
    },
    [id, status, branch, limit],
    (data) => (data && data.items.some((b) => !isFinal(b.status)) ? ACTIVE_MS : IDLE_MS),
  );
  const p = project.data;
  const items = builds.data ? builds.data.items : null;
  const now = useNow(Boolean(items && items.some((b) => b.status === 'running')));
  useTitle(p ? p.name : 'Project');
  return html\`
    <\${PageHeader} title=\${p ? p.name : 'Project'} crumbs=\${[{ href: href.projects(), label: 'Projects' }]} />
    <\${ErrorNote} error=\${project.error} what="Could not load the project" />
    \${p && html\`<dl class="facts card">
      <div><dt>Repository</dt><dd class="mono wrap">\${p.repoUrl}</dd></div>
      <div><dt>Provider</dt><dd>\${p.provider}</dd></div>
      <div><dt>Branches</dt><dd>\${p.branches && p.branches.length ? p.branches.join(', ') : 'all'}</dd></div>
      <div><dt>Concurrency</dt><dd>\${p.concurrency} at once</dd></div>
    </dl>\`}
    <div class="toolbar">
      <form class="inline-form" aria-label="Filter builds" onSubmit=\${(e) => { e.preventDefault(); setBranch(branchInput.trim()); }}>
        <label>Status
          <select value=\${status} onChange=\${(e) => setStatus(e.currentTarget.value)}>
            <option value="">any</option>
            \${STATUSES.map((s) => html\`<option value=\${s}>\${s.replace('_', ' ')}</option>\`)}
          </select>
        </label>
        <label>Branch <input type="search" size="14" value=\${branchInput} placeholder="any" onInput=\${(e) => setBranchInput(e.currentTarget.value)} /></label>
        <button type="submit" class="btn">Filter</button>
      </form>
      <\${TriggerForm} projectId=\${id} />
    </div>
    <\${ErrorNote} error=\${builds.error} what="Could not load the builds" />
    \${builds.loading && html\`<\${Loading} what="builds" />\`}
    \${items && items.length === 0 && html\`<p class="empty">\${status || branch ? 'No build matches these filters.' : 'No builds yet: push to the repository (the webhook) or run one above.'}</p>\`}
    \${items && items.length > 0 && html\`<div class="card table-wrap">
      <table class="table builds">
        <caption class="sr-only">Builds, newest first</caption>
        <thead><tr>
          <th scope="col">Status</th><th scope="col">Build</th><th scope="col">Commit</th><th scope="col">Trigger</th><th scope="col">Requested</th><th scope="col">Duration</th>
        </tr></thead>
        <tbody>\${items.map((b) => html\`<tr key=\${b.id} class=\${'row-' + b.status}>
          <td><\${StatusBadge} status=\${b.status} /></td>
          <td><a class="mono strong" href=\${href.build(b.id)} aria-label=\${'Build ' + shortId(b.id)}>#\${shortId(b.id)}</a>\${b.attempt > 1 ? html\` <span class="tag" title="attempt">try \${b.attempt}</span>\` : ''}</td>
          <td class="commit">
            <span class="mono">\${b.source.branch || b.source.ref}</span>
            \${b.source.sha && html\` <span class="mono muted">\${b.source.sha.slice(0, 8)}</span>\`}
            \${b.source.message && html\`<div class="msg">\${b.source.message.split('\n')[0]}</div>\`}
          </td>
          <td>\${b.trigger}</td>
          <td><\${Ago} iso=\${b.requestedAt} now=\${now} /></td>
          <td>\${b.startedAt ? span(b.startedAt, b.finishedAt, now) : html\`<span class="muted">\${isFinal(b.status) ? '–' : 'waiting'}</span>\`}</td>
        </tr>\`)}</tbody>
      </table>
    </div>\`}
    \${builds.data && builds.data.nextCursor && limit < 200 && html\`<p><button type="button" class="btn" onClick=\${() => setLimit((l) => Math.min(200, l + 25))}>Show more builds</button></p>\`}\`;
}

function TriggerForm({ projectId }) {
  const [ref, setRef] = useState('main');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api('api/projects/' + enc(projectId) + '/builds', { method: 'POST', body: { ref: ref.trim() || 'main' } });
      navigate(href.build(r.buildId));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return html\`<form class="inline-form" aria-label="Run a build" onSubmit=\${submit}>
    <label>Ref <input size="12" value=\${ref} onInput=\${(e) => setRef(e.currentTarget.value)} required /></label>
    <button type="submit" class="btn btn-primary" disabled=\${busy}>\${busy ? 'Starting…' : 'Run build'}</button>
    <\${ErrorNote} error=\${error} what="Could not start a build" />
  </form>\`;
}

// ---- pool --------------------------------------------------------------------------------

export function PoolPage() {
  useTitle('Pool');
  const pool = useResource(() => api('api/pool'), [], ACTIVE_MS);
  const d = pool.data;
  const c = (d && d.counts) || {};
  const cards = [
    { key: 'warm', n: c.warm || 0, label: 'warm', help: 'idle, ready to lease' },
    { key: 'cold', n: (c.provisioning || 0) + (c.warming || 0), label: 'cold', help: 'starting or warming up' },
    { key: 'leased', n: c.leased || 0, label: 'leased', help: 'running a build' },
  ];
  return html\`
    <\${PageHeader} title="Worker pool" />
    <\${ErrorNote} error=\${pool.error} what="Could not load the pool" />
    \${pool.loading && html\`<\${Loading} what="the pool" />\`}
    \${d && html\`
      <ul class="stats" aria-label="Workers by state">
        \${cards.map((k) => html\`<li class=\${'stat stat-' + k.key}><span class="stat-n">\${k.n}</span> <span class="stat-label">\${k.label}</span><span class="stat-help">\${k.help}</span></li>\`)}
      </ul>
      <p class="muted">Keeps at least \${d.minWarm} warm, at most \${d.maxWorkers} workers alive; \${d.workers.length} alive now. Each worker runs one build and is replaced.</p>
      \${d.workers.length === 0
        ? html\`<p class="empty">No live workers.</p>\`
        : html\`<div class="card table-wrap"><table class="table">
            <caption class="sr-only">Live workers</caption>
            <thead><tr><th scope="col">Worker</th><th scope="col">State</th><th scope="col">Driver</th><th scope="col">Build</th><th scope="col">Since</th></tr></thead>
            <tbody>\${d.workers.map((w) => html\`<tr key=\${w.id}>
              <th scope="row" class="mono" title=\${w.id}>\${shortId(w.id)}</th>
              <td><\${StatusBadge} status=\${w.status} /></td>
              <td>\${w.driver}</td>
              <td>\${w.buildId ? html\`<a class="mono" href=\${href.build(w.buildId)}>#\${shortId(w.buildId)}</a>\` : html\`<span class="muted">–</span>\`}</td>
              <td><\${Ago} iso=\${w.updatedAt} /></td>
            </tr>\`)}</tbody>
          </table></div>\`}\`}\`;
}

export function NotFoundPage() {
  useTitle('Not found');
  return html\`<\${PageHeader} title="Page not found" /><p>Nothing here. <a href=\${href.projects()}>Back to the projects</a>.</p>\`;
}
`;
