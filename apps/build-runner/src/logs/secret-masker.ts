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
