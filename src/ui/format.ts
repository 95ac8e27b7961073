export { safe, visible } from '../visible.ts';
export { formatBytes, formatCount, formatDuration, formatTime, percent } from '../format.ts';
