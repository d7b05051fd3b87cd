/** Secrets shorter than this are not masked (masking "a" or "yes" would destroy the log). */
export const MIN_SECRET_LENGTH = 4;

/** The replacement for every secret occurrence. */
export const MASK = '***';

/**
 * Builds a function that replaces every occurrence of the given secrets with `***`.
 * Secrets shorter than 4 characters are ignored. Longer secrets win over secrets they contain
 * (longest first). Because logs are masked line by line, each line of a multi-line secret (for
 * example a private key) is also masked on its own.
 */
export function createMasker(secrets: readonly string[]): (text: string) => string {
  const candidates = new Set<string>();
  for (const secret of secrets) {
    if (typeof secret !== 'string') continue;
    candidates.add(secret);
    if (/[\r\n]/.test(secret)) {
      for (const line of secret.split(/\r?\n|\r/)) candidates.add(line.trim());
    }
  }
  const usable = [...candidates].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  if (usable.length === 0) return (text) => text;
  const pattern = new RegExp(usable.map(escapeRegExp).join('|'), 'g');
  return (text) => text.replace(pattern, MASK);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The lines of a multi-line secret as they appear in a log (line breaks gone, `\r` dropped). */
function secretLines(secret: string): string[] {
  const lines = secret.split(/\r?\n|\r/);
  while (lines.length > 0 && lines[0].trim() === '') lines.shift();
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  return lines;
}

/** A multi-line secret partly seen: its line `next` is expected as the source's next line. */
interface Chain {
  readonly secret: number;
  readonly next: number;
}

/** What the masker remembers about one source of lines (a step's stdout or stderr). */
interface SourceState {
  /** Tail of a long line held back because a secret may continue in the next piece. */
  held: string;
  /** Whether the last piece was cut from a longer line (the next piece continues it). */
  partial: boolean;
  /** Multi-line secrets whose first lines ended the previous lines. */
  chains: Chain[];
}

/**
 * Masks secrets (`***`) in a log line by line, before lines are batched, so that a chunk
 * boundary can never split an occurrence. On top of {@link createMasker} it keeps a little
 * state per source of lines (e.g. `0:stdout`):
 * - a long line arrives cut into pieces (`partial`): the tail of a piece that could be the
 *   start of a secret is held back and joined to the next piece, so a secret straddling a
 *   cut is masked whole;
 * - a secret containing line breaks prints as several lines: once a line ends with its first
 *   line, the following lines that equal its middle lines are masked whole and the line
 *   that starts with its last line has that start masked, whatever their length (each line
 *   of 4+ characters is also masked wherever it appears).
 * Nothing is ever delayed beyond the next piece of the same line.
 */
export class SecretMasker {
  private readonly pattern: RegExp | null;
  /** Longest single-line candidate: how much of a cut piece may hold the start of a secret. */
  private readonly longest: number;
  private readonly multiLine: string[][];
  private readonly sources = new Map<string, SourceState>();

  constructor(secrets: readonly string[]) {
    const candidates = new Set<string>();
    const multi: string[][] = [];
    for (const secret of secrets) {
      if (typeof secret !== 'string') continue;
      const lines = secretLines(secret);
      if (lines.length > 1) {
        multi.push(lines);
        for (const l of lines) candidates.add(l.trim());
      } else if (lines.length === 1) {
        candidates.add(secret);
        candidates.add(lines[0]);
      }
    }
    const usable = [...candidates].filter((s) => s.length >= MIN_SECRET_LENGTH && !/[\r\n]/.test(s)).sort((a, b) => b.length - a.length);
    this.pattern = usable.length ? new RegExp(usable.map(escapeRegExp).join('|'), 'g') : null;
    this.longest = usable.length ? usable[0].length : 0;
    this.multiLine = multi;
  }

  /** Whether there is anything to mask at all. */
  get active(): boolean {
    return this.pattern !== null || this.multiLine.length > 0;
  }

  /**
   * Masks one line of `source`, or one piece of it when `partial` (more of the same line
   * follows in the next call). Returns the text to ship, or null when all of it was held
   * back for the next piece.
   */
  line(source: string, text: string, partial = false): string | null {
    if (!this.active) return text;
    const st = this.sources.get(source) ?? { held: '', partial: false, chains: [] };
    const startsLine = !st.partial;
    const whole = st.held + text;
    st.held = '';
    st.partial = partial;
    let out: string | null;
    if (partial) {
      st.chains = [];
      out = this.maskHoldingTail(st, whole);
    } else {
      out = this.maskLine(st, whole, startsLine);
    }
    if (st.held === '' && !st.partial && st.chains.length === 0) this.sources.delete(source);
    else this.sources.set(source, st);
    return out;
  }

  /** Releases (masked) whatever is still held back for `source`; null when nothing is. */
  flush(source: string): string | null {
    const st = this.sources.get(source);
    this.sources.delete(source);
    if (!st || st.held === '') return null;
    return this.maskText(st.held);
  }

  /** Sources with text held back. */
  pendingSources(): string[] {
    return [...this.sources].filter(([, s]) => s.held !== '').map(([k]) => k);
  }

  private maskText(text: string): string {
    if (!this.pattern) return text;
    this.pattern.lastIndex = 0;
    return text.replace(this.pattern, MASK);
  }

  /** A complete line (or the last piece of one): multi-line chains, then single-line secrets. */
  private maskLine(st: SourceState, text: string, startsLine: boolean): string {
    const next: Chain[] = [];
    let out: string | null = null;
    if (startsLine) {
      for (const c of st.chains) {
        const lines = this.multiLine[c.secret];
        const expected = lines[c.next];
        if (c.next === lines.length - 1) {
          const lead = text.length - text.trimStart().length;
          const last = expected.trimStart();
          if (text.startsWith(last, lead) && out === null) out = text.slice(0, lead) + MASK + this.maskText(text.slice(lead + last.length));
        } else if (text.trim() === expected.trim()) {
          if (expected.trim() !== '') out = MASK;
          next.push({ secret: c.secret, next: c.next + 1 });
        }
      }
    }
    const end = text.trimEnd();
    this.multiLine.forEach((lines, secret) => {
      if (lines[0].trim() !== '' && end.endsWith(lines[0].trimEnd())) next.push({ secret, next: 1 });
    });
    st.chains = next;
    return out ?? this.maskText(text);
  }

  /**
   * A piece cut from a longer line: masks what cannot be the start of a secret continuing
   * in the next piece and holds back the rest.
   */
  private maskHoldingTail(st: SourceState, text: string): string | null {
    if (!this.pattern) return text;
    let safe = Math.max(0, text.length - (this.longest - 1));
    let out = '';
    let last = 0;
    this.pattern.lastIndex = 0;
    for (let m = this.pattern.exec(text); m !== null; m = this.pattern.exec(text)) {
      if (m.index >= safe) break;
      out += text.slice(last, m.index) + MASK;
      last = m.index + m[0].length;
    }
    let cut = Math.max(safe, last);
    // never split a surrogate pair between two pieces
    if (cut > last && cut < text.length && /[\uD800-\uDBFF]/.test(text[cut - 1])) cut--;
    safe = cut;
    out += text.slice(last, safe);
    st.held = text.slice(safe);
    return out === '' && last === 0 ? null : out;
  }
}
