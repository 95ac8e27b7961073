// Inspect thread body: lstat through its own gate (dry: it can only look), a page at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { errorReply } from '../../threads.ts';
import { DeleteGate } from './gate.ts';
import { DISK_KINDS, type InspectReply, type InspectRequest } from './inspect-thread.ts';

const gate = new DeleteGate((workerData as { root: string }).root, true);
const KIND_CODE = new Map<string, number>(DISK_KINDS.map((k, i) => [k, i]));

parentPort!.on('message', (m: InspectRequest) => {
  const paths = m.paths.split('\0');
  const kinds = new Uint8Array(paths.length);
  const sizes = new Float64Array(paths.length);
  const mtimes = new Float64Array(paths.length);
  const reasons: Record<number, string> = {};
  try {
    // A directory checked once is trusted for this page only, as the gate does for a batch.
    gate.forget();
    paths.forEach((p, i) => {
      const st = gate.inspect(p);
      kinds[i] = KIND_CODE.get(st.kind)!;
      if (st.kind === 'file') {
        sizes[i] = st.size;
        mtimes[i] = st.mtimeMs;
      } else if (st.kind === 'unsafe' || st.kind === 'error') reasons[i] = st.reason;
    });
    parentPort!.postMessage({ id: m.id, kinds, sizes, mtimes, reasons } satisfies InspectReply, [kinds.buffer, sizes.buffer, mtimes.buffer]);
  } catch (err) {
    parentPort!.postMessage(errorReply(m.id, err));
  }
});
