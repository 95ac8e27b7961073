// Render worker process: renders cards for generate, so it can use every core. A process,
// not a thread: libvips serialises text rendering (Pango) across the threads of a process.
import { register } from 'tsx/esm/api';

register();
const { renderCard, RenderError } = await import('./card.ts');

process.on('message', async ({ id, data, baseDir }) => {
  try {
    const files = await renderCard(data, { baseDir });
    process.send({ id, files: files.map((f) => ({ role: f.role, contentType: f.contentType, bytes: f.bytes })) });
  } catch (err) {
    process.send({ id, error: String(err?.message ?? err), renderError: err instanceof RenderError });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
