// Development entry of the catalog thread: load TypeScript through tsx, then the thread body.
import { register } from 'tsx/esm/api';

register();
await import('./sqlite-thread-entry.ts');
