export * from './run-git';
export * from './redact-url';
export * from './git-mirror';
