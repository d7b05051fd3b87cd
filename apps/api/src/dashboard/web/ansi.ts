import { source } from './source';

/**
 * `/assets/ansi.js`: a log line's ANSI escape sequences → styled segments. Keeps the SGR
 * foreground colours (30–37, 90–97), bold, and their resets; removes every other escape
 * sequence and control character (cursor moves, clears, titles, hyperlinks), as the CLI does.
 * Each line starts unstyled (the CLI resets at the end of every line too).
 */
export const ANSI_JS = source`
export const COLOURS = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];

// CSI (ESC [ parameters intermediates final), OSC (ESC ] ... BEL or ESC \), any other ESC
// sequence, C0 controls but tab, DEL and C1 controls
const SEQUENCE = /\x1b\[([0-?]*)[ -\/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -\/]*[0-~]?|[\x00-\x08\x0a-\x1f\x7f\x80-\x9f]/g;

/** Text a terminal would show for a line that uses carriage returns (progress bars): its last state. */
function lastCarriageState(text) {
  if (text.indexOf('\r') < 0) return text;
  const parts = text.split('\r').filter((p) => p !== '');
  return parts.length ? parts[parts.length - 1] : '';
}

/**
 * Segments of a line: [{ text, fg, bold }], fg a colour name ('red', 'bright-green') or null.
 * Adjacent segments of the same style are merged; empty text makes no segment.
 */
export function parseAnsi(input) {
  const text = lastCarriageState(String(input));
  const out = [];
  let fg = null;
  let bold = false;
  let last = 0;
  const push = (s) => {
    if (!s) return;
    const prev = out[out.length - 1];
    if (prev && prev.fg === fg && prev.bold === bold) prev.text += s;
    else out.push({ text: s, fg, bold });
  };
  SEQUENCE.lastIndex = 0;
  let m;
  while ((m = SEQUENCE.exec(text))) {
    push(text.slice(last, m.index));
    last = SEQUENCE.lastIndex;
    if (m[2] !== 'm' || !/^[0-9;:]*$/.test(m[1])) continue;
    const params = m[1] === '' ? [0] : m[1].split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      if (p === 0) {
        fg = null;
        bold = false;
      } else if (p === 1) bold = true;
      else if (p === 22) bold = false;
      else if (p >= 30 && p <= 37) fg = COLOURS[p - 30];
      else if (p >= 90 && p <= 97) fg = 'bright-' + COLOURS[p - 90];
      else if (p === 39) fg = null;
      else if (p === 38 || p === 48 || p === 58) {
        // 256-colour and true-colour arguments are not shown; skip them, not misread them
        if (params[i + 1] === 5) i += 2;
        else if (params[i + 1] === 2) i += 4;
      }
    }
  }
  push(text.slice(last));
  return out;
}

/** The line's text without any escape sequence. */
export function stripAnsi(input) {
  return parseAnsi(input).map((s) => s.text).join('');
}
`;
