// Text for a terminal cannot carry control characters from data: a newline in a file name would
// forge an output line, an ANSI/OSC escape would recolour, retitle or clear the terminal. They are
// shown as escapes instead (JSON output is exact and never passes through here).

// C0 controls, DEL, C1 controls, line/paragraph separators and the bidirectional overrides.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

/** The text with every control character shown as a visible escape (\n, \e, \x07, \u202e). */
export function visible(text: string): string {
  return text.replace(CONTROL, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** A tagged template that shows control characters of every interpolated value visibly. */
export function safe(strings: TemplateStringsArray, ...values: unknown[]): string {
  let out = strings[0]!;
  values.forEach((v, i) => (out += visible(String(v)) + strings[i + 1]!));
  return out;
}
