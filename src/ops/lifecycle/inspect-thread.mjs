// Development entry of the inspect thread: load TypeScript through tsx, then the thread body.
import { register } from 'tsx/esm/api';

register();
await import('./inspect-thread-entry.ts');
