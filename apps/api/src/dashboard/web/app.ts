import { source } from './source';

/** `/assets/app.js`: the entry module — layout, navigation, token form, hash routes. */
export const APP_JS = source`
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { html, useRoute, getToken, saveToken, DEFAULT_TOKEN } from './lib.js';
import { ProjectsPage, ProjectPage, PoolPage, NotFoundPage } from './pages.js';
import { BuildPage } from './build-page.js';

function TokenForm() {
  const [value, setValue] = useState(getToken());
  const [message, setMessage] = useState('');
  const timer = useRef(0);
  const submit = (e) => {
    e.preventDefault();
    saveToken(value.trim() || DEFAULT_TOKEN);
    setMessage('Saved');
    clearTimeout(timer.current);
    timer.current = setTimeout(() => setMessage(''), 2500);
  };
  return html\`<form class="token-form" onSubmit=\${submit} aria-label="API token">
    <label for="token-input">API token</label>
    <input id="token-input" name="token" type="password" autocomplete="off" spellcheck="false" value=\${value} onInput=\${(e) => setValue(e.currentTarget.value)} />
    <button type="submit" class="btn btn-small">\${message ? 'Saved ✓' : 'Save'}</button>
    <span class="sr-only" role="status">\${message}</span>
  </form>\`;
}

const Logo = () => html\`<svg class="logo" viewBox="0 0 32 32" width="22" height="22" aria-hidden="true" focusable="false">
  <path d="M16 3c1.5 4.5 6 7 6 13a6 6 0 0 1-12 0c0-3 1.5-5 3-6.5 0 2.5 1 4 2.5 4.5C15 10 14.5 6.5 16 3z" fill="currentColor"/>
  <rect x="5" y="24" width="22" height="4" rx="1.5" fill="currentColor" opacity=".75"/>
</svg>\`;

function page(route) {
  const [first, id] = route.parts;
  if (!first) return { section: 'projects', view: html\`<\${ProjectsPage} />\` };
  if (first === 'projects' && id) return { section: 'projects', view: html\`<\${ProjectPage} id=\${id} />\` };
  if (first === 'builds' && id) return { section: 'projects', view: html\`<\${BuildPage} id=\${id} />\` };
  if (first === 'pool') return { section: 'pool', view: html\`<\${PoolPage} />\` };
  return { section: null, view: html\`<\${NotFoundPage} />\` };
}

function App() {
  const route = useRoute();
  const [tokenVersion, setTokenVersion] = useState(0);
  const [unauthorized, setUnauthorized] = useState(false);
  const main = useRef(null);
  const firstRender = useRef(true);

  useEffect(() => {
    const onToken = () => {
      setUnauthorized(false);
      setTokenVersion((v) => v + 1);
    };
    const onUnauthorized = () => setUnauthorized(true);
    window.addEventListener('kiln:token', onToken);
    window.addEventListener('kiln:unauthorized', onUnauthorized);
    return () => {
      window.removeEventListener('kiln:token', onToken);
      window.removeEventListener('kiln:unauthorized', onUnauthorized);
    };
  }, []);

  // after a navigation, the new page's heading takes the focus (screen readers announce it)
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    const heading = main.current && main.current.querySelector('h1');
    (heading || main.current).focus();
  }, [route.path]);

  const skip = (e) => {
    e.preventDefault();
    main.current.focus();
  };
  const { section, view } = page(route);
  const current = (s) => (section === s ? 'page' : undefined);
  return html\`
    <a class="skip-link" href="#main-content" onClick=\${skip}>Skip to content</a>
    <header class="topbar">
      <a class="brand" href="#/"><\${Logo} /><span>Kiln</span></a>
      <nav aria-label="Main" class="mainnav">
        <a href="#/" aria-current=\${current('projects')}>Projects</a>
        <a href="#/pool" aria-current=\${current('pool')}>Pool</a>
      </nav>
      <span class="spacer"></span>
      <\${TokenForm} />
    </header>
    \${unauthorized && html\`<div class="banner" role="alert">The API rejected the token. Enter the admin token (<code>KILN_ADMIN_TOKEN</code>) above and save it.</div>\`}
    <main id="main-content" tabindex="-1" ref=\${main}>
      <div key=\${route.path + '|' + tokenVersion}>\${view}</div>
    </main>\`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html\`<\${App} />\`, root);
`;
