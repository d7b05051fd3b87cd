import { source } from './source';

/**
 * `/assets/log-view.js`: a build's live log. Follows the log-store's SSE tail through the
 * gateway (EventSource with `?access_token=`; the browser resumes after a dropped connection
 * with `Last-Event-ID`, and lines at or before the last cursor shown are skipped), renders
 * ANSI colours, keeps to the bottom while the reader is there, and jumps to a step's first
 * line. Lines are rendered in blocks of fixed size: a full block never renders again, so a
 * long log costs the same per new line as a short one.
 */
export const LOG_VIEW_JS = source`
import { Component } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { html, api, enc, withToken } from './lib.js';
import { parseAnsi } from './ansi.js';

const BLOCK = 200; // lines per rendered block
const MAX_LINES = 20000; // lines kept on the page; the raw log has them all
const FLUSH_MS = 50; // lines arriving within this are rendered together
const BOTTOM_SLACK = 24; // px from the bottom that still counts as "at the bottom"

function parseCursor(c) {
  const [seq, index] = String(c).split('-').map(Number);
  return [seq, index];
}
function isAfter(a, b) {
  return !b || a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}

function newStore(buildId) {
  return { buildId, blocks: [], nextBlock: 0, count: 0, dropped: 0, last: null, attempt: null, stepStarts: new Set(), steps: new Set(), pending: [] };
}

/** Adds lines (in stream order) to the store; returns how many were new. */
function append(st, lines) {
  let added = 0;
  let stepsChanged = false;
  for (const l of lines) {
    const cursor = parseCursor(l.cursor);
    if (!isAfter(cursor, st.last)) continue; // already shown (a resumed stream)
    st.last = cursor;
    const attemptStart = st.attempt !== null && l.attempt !== st.attempt;
    if (attemptStart) {
      st.steps = new Set();
      stepsChanged = true;
    }
    st.attempt = l.attempt;
    const stepKey = l.attempt + ':' + l.step;
    const stepStart = l.step !== null && l.step !== undefined && !st.stepStarts.has(stepKey);
    if (stepStart) {
      st.stepStarts.add(stepKey);
      st.steps.add(l.step);
      stepsChanged = true;
    }
    const row = {
      key: l.cursor,
      n: l.n,
      step: l.step,
      stepStart,
      cls: 'ln ln-' + l.stream + (stepStart ? ' ln-step-start' : '') + (attemptStart ? ' ln-attempt-start' : ''),
      segs: parseAnsi(l.text),
    };
    let open = st.blocks[st.blocks.length - 1];
    if (!open || open.rows.length >= BLOCK) {
      open = { id: st.nextBlock++, rows: [] };
      st.blocks.push(open);
    }
    open.rows.push(row);
    st.count++;
    added++;
  }
  while (st.count > MAX_LINES && st.blocks.length > 1) {
    const gone = st.blocks.shift();
    st.count -= gone.rows.length;
    st.dropped += gone.rows.length;
  }
  return { added, stepsChanged };
}

function segment(s, i) {
  if (!s.fg && !s.bold) return s.text;
  const cls = (s.fg ? 'ansi-' + s.fg : '') + (s.bold ? ' ansi-bold' : '');
  return html\`<span key=\${i} class=\${cls.trim()}>\${s.text}</span>\`;
}

function line(r) {
  return html\`<div key=\${r.key} class=\${r.cls} data-step-start=\${r.stepStart ? r.step : undefined} tabindex=\${r.stepStart ? -1 : undefined}><span class="ln-n" aria-hidden="true">\${r.n}</span><span class="ln-t">\${r.segs.map(segment)}</span></div>\`;
}

/** A block of lines; renders again only while it is the open (last, growing) block. */
class LogBlock extends Component {
  shouldComponentUpdate(next) {
    return next.size !== this.props.size || next.rows !== this.props.rows;
  }
  render({ rows }) {
    return html\`<div class="log-block">\${rows.map(line)}</div>\`;
  }
}

/**
 * Props: buildId; control (an object: the viewer sets control.jumpToStep(index) → boolean);
 * onEvent({ type: 'steps', steps } | { type: 'end', status }).
 */
export function LogViewer({ buildId, control, onEvent }) {
  const store = useRef(null);
  if (!store.current || store.current.buildId !== buildId) store.current = newStore(buildId);
  const [, setVersion] = useState(0);
  const [conn, setConn] = useState('connecting');
  const [failure, setFailure] = useState(null);
  const [ended, setEnded] = useState(null);
  const [connectNonce, setConnectNonce] = useState(0);
  const [follow, setFollowState] = useState(true);
  const followRef = useRef(true);
  const [unseen, setUnseen] = useState(0);
  const box = useRef(null);
  const onEventRef = useRef(onEvent);
  onEventRef.current = onEvent;

  const setFollow = (on) => {
    followRef.current = on;
    setFollowState(on);
    if (on) setUnseen(0);
  };
  const toBottom = () => {
    setFollow(true);
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  };

  useEffect(() => {
    const st = store.current;
    let timer = 0;
    const flush = () => {
      timer = 0;
      if (!st.pending.length) return;
      const { added, stepsChanged } = append(st, st.pending.splice(0));
      if (!added) return;
      setVersion((v) => v + 1);
      if (!followRef.current) setUnseen((u) => u + added);
      if (stepsChanged && onEventRef.current) onEventRef.current({ type: 'steps', steps: [...st.steps] });
    };
    setConn('connecting');
    setFailure(null);
    const url = 'api/builds/' + enc(buildId) + '/logs/stream' + (st.last ? '?cursor=' + st.last.join('-') : '');
    const es = new EventSource(withToken(url));
    es.onopen = () => setConn('live');
    es.addEventListener('line', (ev) => {
      try {
        st.pending.push(JSON.parse(ev.data));
      } catch {
        return;
      }
      if (!timer) timer = setTimeout(flush, FLUSH_MS);
    });
    es.addEventListener('end', (ev) => {
      let status = null;
      try {
        status = JSON.parse(ev.data).status;
      } catch {
        /* an end without a status */
      }
      es.close();
      clearTimeout(timer);
      flush();
      setEnded(status || 'ended');
      setConn('ended');
      if (onEventRef.current) onEventRef.current({ type: 'end', status });
    });
    es.onerror = () => {
      if (es.readyState !== EventSource.CLOSED) {
        setConn('reconnecting');
        return;
      }
      // EventSource does not say why; ask the same route for its JSON error
      setConn('failed');
      api('api/builds/' + enc(buildId) + '/logs?limit=1').then(
        () => setFailure('the live log connection was closed'),
        (e) => setFailure(e.message),
      );
    };
    return () => {
      es.close();
      clearTimeout(timer);
    };
  }, [buildId, connectNonce]);

  // keep to the bottom while following (after every render that added lines)
  useLayoutEffect(() => {
    if (followRef.current && box.current) box.current.scrollTop = box.current.scrollHeight;
  });

  if (control) {
    control.jumpToStep = (index) => {
      const el = box.current && [...box.current.querySelectorAll('[data-step-start="' + index + '"]')].pop();
      if (!el) return false;
      setFollow(false);
      box.current.scrollTop = el.offsetTop - 8;
      box.current.scrollIntoView({ block: 'nearest' });
      el.focus({ preventScroll: true });
      el.classList.add('ln-flash');
      setTimeout(() => el.classList.remove('ln-flash'), 1600);
      return true;
    };
  }

  const onScroll = () => {
    const el = box.current;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < BOTTOM_SLACK;
    if (atBottom !== followRef.current) setFollow(atBottom);
  };
  // scrolling up stops following at once (before the next lines pull the view down again)
  const onWheel = (e) => {
    if (e.deltaY < 0 && followRef.current) setFollow(false);
  };
  const onKeyDown = (e) => {
    if (['ArrowUp', 'PageUp', 'Home'].includes(e.key) && followRef.current) setFollow(false);
    if (e.key === 'End') toBottom();
  };

  const st = store.current;
  const connLabel = {
    connecting: 'connecting…',
    live: 'live',
    reconnecting: 'reconnecting…',
    ended: 'complete',
    failed: 'disconnected',
  }[conn];
  return html\`<section class="log-panel" aria-labelledby="log-heading">
    <div class="log-bar">
      <h2 id="log-heading">Log</h2>
      <span class=\${'conn conn-' + conn} role="status"><span class="conn-dot" aria-hidden="true"></span>\${connLabel}</span>
      <span class="muted log-count">\${st.count + st.dropped} lines</span>
      <span class="spacer"></span>
      <button type="button" class="btn btn-small" aria-pressed=\${follow ? 'true' : 'false'} onClick=\${() => (follow ? setFollow(false) : toBottom())}>Follow</button>
      <a class="btn btn-small" href=\${withToken('api/builds/' + enc(buildId) + '/logs/raw')} target="_blank" rel="noopener noreferrer">Raw log</a>
    </div>
    \${conn === 'failed' && html\`<p class="note note-error" role="alert">The live log stopped: \${failure || 'connecting failed'}. <button type="button" class="btn btn-small" onClick=\${() => setConnectNonce((n) => n + 1)}>Reconnect</button></p>\`}
    \${st.dropped > 0 && html\`<p class="note">\${st.dropped} earlier lines are not shown here; the raw log has them all.</p>\`}
    <div class="log-wrap">
      <div class="log" ref=\${box} role="log" aria-live="off" aria-label="Build log" tabindex="0" onScroll=\${onScroll} onWheel=\${onWheel} onKeyDown=\${onKeyDown}>
        \${st.blocks.map((b) => html\`<\${LogBlock} key=\${b.id} rows=\${b.rows} size=\${b.rows.length} />\`)}
        \${st.count === 0 && html\`<p class="log-empty">\${ended ? 'This build wrote no log.' : 'Waiting for the first line…'}</p>\`}
      </div>
      \${!follow && unseen > 0 && html\`<button type="button" class="btn new-lines" onClick=\${toBottom}>\${unseen} new line\${unseen === 1 ? '' : 's'} ↓</button>\`}
    </div>
  </section>\`;
}
`;
