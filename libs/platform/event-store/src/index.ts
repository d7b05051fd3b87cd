export * from './connection';
export * from './streams';
export * from './read';
export * from './event-store';
export * from './follow';
export * from './aggregates';
export * from './aggregate-view';
export * from './create';
