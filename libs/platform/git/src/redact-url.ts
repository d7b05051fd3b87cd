/**
 * Hides credentials embedded in a repository URL (`https://user:token@host/repo.git` →
 * `https://***@host/repo.git`) so that it can be written to logs and error messages.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

/** Replaces every occurrence of `url` (and its credentials, if any) in `text` with the redacted form. */
export function redactUrlIn(text: string, url: string): string {
  const redacted = redactUrl(url);
  if (redacted === url) return text;
  let out = text.split(url).join(redacted);
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/@]*)@/i.exec(url)?.[1];
  if (userinfo) {
    for (const part of userinfo.split(':')) {
      if (part.length >= 4) out = out.split(part).join('***');
    }
  }
  return out;
}
