/**
 * The dashboard's one HTML page (served at `/`): the import map that lets the browser load
 * Preact and htm as ES modules from `/assets/vendor/`, and the app's entry module. URLs are
 * relative, so the dashboard also works behind a path prefix.
 */
export function indexHtml(importMap: string, preload: readonly string[]): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Kiln</title>
<link rel="icon" href="./assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="./assets/app.css">
<script type="importmap">${importMap}</script>
${preload.map((href) => `<link rel="modulepreload" href="${href}">`).join('\n')}
<script type="module" src="./assets/app.js"></script>
</head>
<body>
<div id="app"><p class="boot">Loading the Kiln dashboard…</p><noscript>The Kiln dashboard needs JavaScript. The REST API is described at <a href="./api/docs">/api/docs</a>.</noscript></div>
</body>
</html>
`;
}

/** The browser tab's icon: the Kiln flame. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#2b1a12"/><path d="M16 4c1.5 4.5 6 7 6 13a6 6 0 0 1-12 0c0-3 1.5-5 3-6.5 0 2.5 1 4 2.5 4.5C15 11 14.5 7.5 16 4z" fill="#f0772f"/><rect x="7" y="25" width="18" height="3" rx="1.5" fill="#f0772f" opacity=".7"/></svg>
`;
