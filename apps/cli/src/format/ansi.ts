/** SGR codes the CLI uses. */
const SGR = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  gray: [90, 39],
} as const;
export type Style = keyof typeof SGR;

/** Styles text with ANSI colours, or returns it as is when colour is off. */
export interface Palette {
  readonly enabled: boolean;
  style(text: string, ...styles: Style[]): string;
}

export function palette(enabled: boolean): Palette {
  return {
    enabled,
    style(text, ...styles) {
      if (!enabled || !styles.length || text === '') return text;
      const open = styles.map((s) => `\x1b[${SGR[s][0]}m`).join('');
      const close = styles.map((s) => `\x1b[${SGR[s][1]}m`).reverse().join('');
      return open + text + close;
    },
  };
}

/**
 * Whether to colour a stream: never with `--no-color` or a non-empty `NO_COLOR`
 * (no-color.org); always with a non-empty `FORCE_COLOR` other than `0`; else when the
 * stream is a terminal (and `TERM` is not `dumb`).
 */
export function colorEnabled(opts: { noColorFlag: boolean; isTTY: boolean; env: Record<string, string | undefined> }): boolean {
  if (opts.noColorFlag || opts.env.NO_COLOR) return false;
  if (opts.env.FORCE_COLOR && opts.env.FORCE_COLOR !== '0') return true;
  return opts.isTTY && opts.env.TERM !== 'dumb';
}

// eslint-disable-next-line no-control-regex
const SGR_SEQ = /^\x1b\[[0-9;:]*m$/;
/**
 * Every escape sequence and control character a build might print: CSI (cursor moves,
 * clears), OSC (titles, hyperlinks), other ESC sequences, C0 controls but tab, DEL, C1.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]?|[\x00-\x08\x0a-\x1f\x7f\x80-\x9f]/g;

/**
 * A build's log text made safe for a terminal: with colour on, its SGR colour sequences
 * are kept (and reset at the end so they do not leak into the next line) while every other
 * escape or control is removed; with colour off, all of them are removed.
 */
export function sanitizeLogText(text: string, keepColors: boolean): string {
  if (!keepColors) return text.replace(UNSAFE, '');
  let hadSgr = false;
  const out = text.replace(UNSAFE, (seq) => {
    if (!SGR_SEQ.test(seq)) return '';
    hadSgr = true;
    return seq;
  });
  return hadSgr ? out + '\x1b[0m' : out;
}

/** Text without any escape sequence (for measuring widths). */
export function stripAnsi(text: string): string {
  return text.replace(UNSAFE, '');
}
