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
    \${b && html\`<\${Deploys} b=\${b} />\`}
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

/** A succeeded build's deploy is recorded a moment after the build ends (the deployer fetches the commit first): look for it this long. */
const DEPLOY_APPEARS_MS = 60000;

/**
 * The deploy a succeeded build started, if its pipeline has a deploy section: its environment
 * and status, each instance's warm-up, and the traffic switch (or why there was none).
 * Read again every 2 s while the build runs, while the deploy is in progress, and for a
 * while after the build succeeded until the deploy shows up.
 */
function Deploys({ b }) {
  const final = isFinal(b.status);
  const deploys = useResource(() => api('api/builds/' + enc(b.id) + '/deploys'), [b.id], (d, err) => {
    if (err) return err.status === 404 ? 0 : POLL_MS;
    if (!final || (d && d.items.some((x) => x.status === 'deploying'))) return POLL_MS;
    const waiting = b.status === 'succeeded' && d && d.items.length === 0 && Date.now() - Date.parse(b.finishedAt || '') < DEPLOY_APPEARS_MS;
    return waiting ? POLL_MS : 0;
  });
  const items = deploys.data ? deploys.data.items : [];
  const now = useNow(items.some((x) => x.status === 'deploying'));
  if (!items.length) return null;
  return html\`<section class="card deploys" aria-labelledby="deploys-heading">
    <h2 id="deploys-heading">Deploy</h2>
    \${items.map((d) => html\`<\${DeployCard} key=\${d.id} d=\${d} now=\${now} />\`)}
  </section>\`;
}

function DeployCard({ d, now }) {
  const total = d.spec ? d.spec.instances : d.instances.length;
  const warm = d.instances.filter((i) => i.status === 'warm').length;
  return html\`<div class="deploy">
    <p class="deploy-head">
      <span class="deploy-env">\${d.environment || 'no environment'}</span>
      <span class="deploy-status" role="status" aria-live="polite" aria-atomic="true"><\${StatusBadge} status=\${d.status} /></span>
      <span class="muted mono" title=\${d.id}>deploy \${shortId(d.id)}</span>
      \${d.status === 'deploying' && total > 0 && html\`<span class="muted">\${warm} of \${total} warm</span>\`}
    </p>
    <p class=\${'deploy-summary deploy-summary-' + d.status}><\${DeploySummary} d=\${d} total=\${total} now=\${now} /></p>
    \${d.instances.length > 0 && html\`<ol class="steps deploy-instances" aria-label="Instances">\${d.instances.map((i) => html\`<\${InstanceRow} key=\${i.id} i=\${i} now=\${now} />\`)}</ol>\`}
  </div>\`;
}

function DeploySummary({ d, total, now }) {
  const prev = d.previousDeployId ? html\`deploy <span class="mono" title=\${d.previousDeployId}>\${shortId(d.previousDeployId)}</span>\` : null;
  if (d.status === 'deploying') {
    return prev
      ? html\`Warming up: traffic stays on \${prev} until all \${total} new instances are warm.\`
      : html\`Warming up: \${d.environment} gets traffic once all \${total} instances are warm.\`;
  }
  if (d.status === 'live') {
    return html\`<span class="deploy-switch">Traffic switched <\${Ago} iso=\${d.switchedAt} now=\${now} />\${prev ? html\` from \${prev}\` : ' (first deploy)'}</span>\${d.startedAt ? ', ' + span(d.startedAt, d.switchedAt, now) + ' after the deploy started' : ''}.\`;
  }
  const what = d.status === 'rolled_back' ? 'Rolled back' : 'Failed';
  return html\`<span class="deploy-reason">\${what}: \${d.reason || 'no reason recorded'}.</span>
    \${d.environment ? (prev ? html\` No traffic moved: \${prev} keeps serving \${d.environment}.\` : html\` No traffic moved.\`) : ''}\`;
}

/** One instance: warming (with what it last answered), warm, failed (why), or stopped with its deploy. */
function InstanceRow({ i, now }) {
  const status = i.status;
  return html\`<li class=\${'step deploy-instance deploy-instance-' + status}>
    <span class="step-name">instance \${i.index}</span>
    <span class="step-meta">
      <\${StatusBadge} status=\${status} />
      \${i.port ? html\`<span class="mono" title="port">:\${i.port}</span>\` : ''}
      \${status === 'warming' && html\`<span>\${i.observation ? 'last answer: ' + i.observation : 'starting'}\${i.signalSeen ? ' (warm-up signal seen)' : ''}</span>\`}
      \${status === 'warming' && html\`<span>\${span(i.startedAt, null, now)}</span>\`}
      \${status === 'stopped' && html\`<span>stopped with the deploy\${i.observation ? ' (last answer: ' + i.observation + ')' : ''}</span>\`}
      \${status === 'warm' && html\`<span>warm after \${span(i.startedAt, i.warmAt, now)}</span>\`}
      \${status === 'failed' && i.reason && html\`<span class="deploy-reason">\${i.reason}</span>\`}
      \${i.warnings && i.warnings.length > 0 && html\`<span class="deploy-warning" title=\${i.warnings.join('\n')}>⚠ \${i.warnings.length === 1 ? i.warnings[0] : i.warnings.length + ' warnings'}</span>\`}
    </span>
  </li>\`;
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
