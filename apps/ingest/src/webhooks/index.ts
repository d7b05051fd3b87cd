/**
 * Pure webhook handling for the ingest service: signature/token checks, payload parsing into a
 * provider-neutral {@link PushEvent}, and repository URL matching.
 * @packageDocumentation
 */
export { signGithubBody, verifyGithubSignature } from './github-signature';
export { verifyGitlabToken } from './gitlab-token';
export {
  normalizeRepoUrl,
  parseGithubEvent,
  parseGitlabEvent,
  repoMatches,
  WebhookPayloadError,
} from './push-event';
export type { PushEvent, WebhookParseResult } from './push-event';
