// Hash thread body: reads a batch of files synchronously (1 MiB chunks) and answers with
// each one's size and SHA-256, or why it could not be read; or, given what to expect, a verdict
// per file (checkBatch).
import { parentPort, workerData } from 'node:worker_threads';
import { errorReply } from '../threads.ts';
import { checkBatch, hashBatch, type HashRequest } from './hash-pool.ts';

const { root } = workerData as { root: string };

parentPort!.on('message', (m: HashRequest) => {
  try {
    const rels = m.paths.split('\0');
    if (m.sizes && m.sha256s !== undefined) {
      const r = checkBatch(root, rels, m.sizes, m.sha256s);
      parentPort!.postMessage({ id: m.id, ...r }, [r.codes.buffer as ArrayBuffer]);
    } else parentPort!.postMessage({ id: m.id, ...hashBatch(root, rels) });
  } catch (err) {
    parentPort!.postMessage(errorReply(m.id, err));
  }
});
