// Development entry of the walk thread: load TypeScript through tsx, then the thread body.
import { register } from 'tsx/esm/api';

register();
await import('./walk-worker-entry.ts');
