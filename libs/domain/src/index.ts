export * from './decider';
export * from './builds/build.decider';
export * from './workers/worker.decider';
export * from './projects/project.decider';
export * from './deploys/deploy.decider';
