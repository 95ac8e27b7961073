// Development entry of the render worker: load TypeScript through tsx, then the worker body.
import { register } from 'tsx/esm/api';

register();
await import('./worker-entry.ts');
