// Moved to src/duration.ts (config reads durations too, below the ops layer).
export * from '../../duration.ts';
