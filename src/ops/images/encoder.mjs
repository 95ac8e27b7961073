// Development entry of the image encoder process: load TypeScript through tsx, then its body.
import { register } from 'tsx/esm/api';

register();
await import('./encoder-entry.ts');
