// Development entry of the hash thread: load TypeScript through tsx, then the thread body.
import { register } from 'tsx/esm/api';

register();
await import('./hash-worker-entry.ts');
