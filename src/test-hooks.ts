// Test hooks: points where a test can stop a run as a fault would find it. Inert unless the
// variable names the point.

/**
 * STORECTL_TEST_PAUSE_AT=<name>:<file>: at the point <name>, create <file> and wait (the event
 * loop runs) until the test removes it; then go on. A test kills the database meanwhile.
 * STORECTL_TEST_PAUSE_AT=<name>:stall: at <name>, wait forever with nothing left to run.
 */
export async function pausePoint(name: string): Promise<void> {
  const spec = process.env.STORECTL_TEST_PAUSE_AT;
  if (!spec || !spec.startsWith(`${name}:`)) return;
  const file = spec.slice(name.length + 1);
  // 'stall': wait on what can never settle, as a call on a connection lost without an error does.
  if (file === 'stall') return new Promise<void>(() => {});
  const fs = await import('node:fs');
  fs.writeFileSync(file, String(process.pid));
  while (fs.existsSync(file)) await new Promise((r) => setTimeout(r, 20));
}
