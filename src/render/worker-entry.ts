// Render worker process body: renders cards for generate, so it can use every core. A
// process, not a thread: libvips renders text under a process-wide lock.
import { RenderError, renderCard, type CardData } from './card.ts';

process.on('message', async (m: { id: number; data: CardData; baseDir: string }) => {
  try {
    const files = await renderCard(m.data, { baseDir: m.baseDir });
    process.send!({ id: m.id, files: files.map((f) => ({ role: f.role, contentType: f.contentType, bytes: f.bytes })) });
  } catch (err) {
    process.send!({ id: m.id, error: String((err as Error)?.message ?? err), renderError: err instanceof RenderError });
  }
});
process.on('disconnect', () => process.exit(0));
