import { source } from './source';

/**
 * `/assets/build-page.js`: one build — its facts, its steps (status, exit code, duration, a
 * button to the step's first log line) and the live log. The build (from its events) is
 * read again every 2 s until it is final, and at once when the log shows a new step or ends.
 */
export const BUILD_PAGE_JS = source`
import { useRef, useState } from 'preact/hooks';
import { html, api, enc, href, navigate, useResource, useTitle, useNow, isFinal, shortId, span, fmtDuration, StatusBadge, Ago, ErrorNote, Loading, PageHeader } from './lib.js';
import { LogViewer } from './log-view.js';

const POLL_MS = 2000;

export function BuildPage({ id }) {
  const build = useResource(() => api('api/builds/' + enc(id)), [id], (b, err) => (b && isFinal(b.status) ? 0 : err && err.status === 404 ? 0 : POLL_MS));
  const b = build.data;
  const projectId = b ? b.projectId : null;
  const project = useResource(() => (projectId ? api('api/projects/' + enc(projectId)) : Promise.resolve(null)), [projectId], 0);
  const control = useRef({}).current;
  const [seen, setSeen] = useState([]);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState(null);
  const final = b ? isFinal(b.status) : false;
  const now = useNow(Boolean(b && !final));
  useTitle('Build ' + shortId(id));

  const onLog = (ev) => {
    if (ev.type === 'steps') setSeen(ev.steps);
    build.reload();
  };
  const jump = (step) => {
    setNote(control.jumpToStep && control.jumpToStep(step.index) ? '' : 'Step "' + step.name + '" has no log lines yet.');
  };
  const act = async (what) => {
    setBusy(true);
    setActionError(null);
    try {
      if (what === 'cancel') {
        if (!window.confirm('Cancel build ' + shortId(id) + '?')) return;
        await api('api/builds/' + enc(id) + '/cancel', { method: 'POST', body: { reason: 'cancelled from the dashboard' } });
        build.reload();
      } else {
        const r = await api('api/builds/' + enc(id) + '/retry', { method: 'POST', body: {} });
        navigate(href.build(r.buildId));
      }
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
    }
  };

  const p = project.data;
  const crumbs = [{ href: href.projects(), label: 'Projects' }];
  if (b) crumbs.push({ href: href.project(b.projectId), label: p ? p.name : 'Project' });
  return html\`
    <\${PageHeader} title=\${'Build #' + shortId(id)} crumbs=\${crumbs}>
      <span class="build-status" role="status" aria-live="polite" aria-atomic="true">\${b && html\`<\${StatusBadge} status=\${b.status} />\`}</span>
      <span class="spacer"></span>
      \${b && !final && html\`<button type="button" class="btn btn-danger" disabled=\${busy || b.cancelRequested} onClick=\${() => act('cancel')}>\${b.cancelRequested ? 'Cancelling…' : 'Cancel'}</button>\`}
      \${b && final && html\`<button type="button" class="btn" disabled=\${busy} onClick=\${() => act('retry')}>Build again</button>\`}
    </\${PageHeader}>
    <\${ErrorNote} error=\${actionError} what="The action failed" />
    <\${ErrorNote} error=\${build.error} what="Could not load the build" />
    \${build.loading && html\`<\${Loading} what="the build" />\`}
    \${b && html\`<\${Facts} b=\${b} now=\${now} />\`}
    \${b && html\`<\${Deploys} buildId=\${id} final=\${final} />\`}
    \${b && html\`<div class="build-body">
      <section class="steps-panel card" aria-labelledby="steps-heading">
        <h2 id="steps-heading">Steps</h2>
        \${b.steps.length === 0
          ? html\`<p class="muted">\${final ? 'No steps ran.' : 'The pipeline is not loaded yet.'}</p>\`
          : html\`<ol class="steps">\${b.steps.map((s) => html\`<li key=\${s.index} class=\${'step step-' + s.status}>
              <span class="step-name">\${s.name}</span>
              <span class="step-meta">
                <\${StatusBadge} status=\${s.status} />
                \${s.exitCode === null || s.exitCode === undefined ? '' : html\`<span>exit \${s.exitCode}</span>\`}
                <span>\${s.durationMs !== null && s.durationMs !== undefined ? fmtDuration(s.durationMs) : s.startedAt ? span(s.startedAt, s.finishedAt, now) : ''}</span>
              </span>
              <button type="button" class="btn btn-small step-jump" disabled=\${!seen.includes(s.index)} onClick=\${() => jump(s)} aria-label=\${'Show the log of step ' + s.name}>Log ↓</button>
            </li>\`)}</ol>\`}
        \${note && html\`<p class="muted" role="status">\${note}</p>\`}
      </section>
      <\${LogViewer} buildId=\${id} control=\${control} onEvent=\${onLog} />
    </div>\`}\`;
}

/** The deploy a succeeded build started, if its pipeline has a deploy section: status and each instance's warm-up. */
function Deploys({ buildId, final }) {
  const deploys = useResource(() => api('api/builds/' + enc(buildId) + '/deploys'), [buildId], (d) =>
    !final || (d && d.items.some((x) => x.status === 'deploying')) ? POLL_MS : 0,
  );
  const items = deploys.data ? deploys.data.items : [];
  if (!items.length) return null;
  return html\`<section class="card deploys" aria-labelledby="deploys-heading">
    <h2 id="deploys-heading">Deploy</h2>
    \${items.map((d) => html\`<div key=\${d.id}>
      <p><strong>\${d.environment}</strong> <\${StatusBadge} status=\${d.status} /> \${d.reason ? html\`<span class="muted">\${d.reason}</span>\` : ''}</p>
      <ol class="steps">\${d.instances.map((i) => html\`<li key=\${i.id} class="step">
        <span class="step-name">instance \${i.index + 1}</span>
        <span class="step-meta"><\${StatusBadge} status=\${i.status} />\${i.port ? html\`<span class="mono">:\${i.port}</span>\` : ''}\${i.observation ? html\`<span class="muted">\${i.observation}</span>\` : ''}</span>
      </li>\`)}</ol>
    </div>\`)}
  </section>\`;
}

function Facts({ b, now }) {
  const s = b.source || {};
  return html\`<dl class="facts card">
    <div><dt>Ref</dt><dd class="mono">\${s.branch || s.ref}</dd></div>
    <div><dt>Commit</dt><dd class="mono" title=\${s.sha || ''}>\${s.sha ? s.sha.slice(0, 12) : 'resolved at checkout'}</dd></div>
    \${s.message && html\`<div class="fact-wide"><dt>Message</dt><dd>\${s.message.split('\n')[0]}</dd></div>\`}
    \${s.author && html\`<div><dt>Author</dt><dd>\${s.author}</dd></div>\`}
    <div><dt>Trigger</dt><dd>\${b.trigger}</dd></div>
    <div><dt>Requested</dt><dd><\${Ago} iso=\${b.requestedAt} now=\${now} /></dd></div>
    <div><dt>Duration</dt><dd>\${b.startedAt ? span(b.startedAt, b.finishedAt, now) : 'not started'}</dd></div>
    \${b.attempt > 1 && html\`<div><dt>Attempt</dt><dd>\${b.attempt}</dd></div>\`}
    \${b.workerId && html\`<div><dt>Worker</dt><dd class="mono" title=\${b.workerId}>\${shortId(b.workerId)}</dd></div>\`}
    \${b.exitCode !== null && b.exitCode !== undefined && html\`<div><dt>Exit code</dt><dd>\${b.exitCode}</dd></div>\`}
    \${b.reason && html\`<div class="fact-wide"><dt>Reason</dt><dd>\${b.reason}</dd></div>\`}
  </dl>\`;
}
`;
