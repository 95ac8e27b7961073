export { safe, visible } from '../visible.ts';
export { formatBytes, formatCount, formatDuration, formatTime, percent } from '../format.ts';

/**
 * Text wrapped at word boundaries to lines of at most `width` characters (a word longer than
 * a line, a path say, gets a line of its own rather than being cut): a terminal would
 * otherwise break it mid-word and mid-number.
 */
export function wrapWords(text: string, width: number): string {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.split(' ')) {
      if (line && line.length + 1 + word.length > width) {
        out.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    out.push(line);
  }
  return out.join('\n');
}
