// Removal thread body (plain JavaScript: it loads nothing but node:fs, so each of the pool's
// threads starts in milliseconds, from src/ as from the bundle). It acts only on names the main
// thread resolved against directories it holds open (/proc/self/fd/N/NAME: the process's
// descriptors are every thread's), so the confinement of storage/confined.ts holds here
// unchanged. Synchronous system calls: a thread blocks in the kernel, the others go on; the
// main thread never does (see removal-threads.ts for why).
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';

// Kinds, in the order of removal-threads.ts's KINDS.
const FILE = 0;
const GONE = 1;
const SYMLINK = 2;
const OTHER = 3;
const ERROR = 5;
// Outcomes, in the order of removal-threads.ts's OUTCOMES.
const DELETED = 0;
const GONE_OUT = 1;
const MISMATCH = 2;
const FAILED = 3;
// Per file modes, as removal-threads.ts's MODES.
const RECHECK = 1;
const SKIP = 2;

function errorOf(err) {
  return { message: err.message, code: err.code, syscall: err.syscall, path: err.path };
}

/** lstat of one name into the reply arrays at i: kind, size, mtime; an error's fields in `errors`. */
function look(name, i, kinds, sizes, mtimes, errors) {
  let st;
  try {
    st = fs.lstatSync(name, { throwIfNoEntry: false });
  } catch (err) {
    kinds[i] = ERROR;
    errors[i] = errorOf(err);
    return;
  }
  if (!st) kinds[i] = GONE;
  else if (st.isSymbolicLink()) kinds[i] = SYMLINK;
  else if (!st.isFile()) kinds[i] = OTHER;
  else {
    kinds[i] = FILE;
    sizes[i] = st.size;
    mtimes[i] = st.mtimeMs;
  }
}

function lookAll(m) {
  const names = m.names.split('\0');
  const kinds = new Uint8Array(names.length);
  const sizes = new Float64Array(names.length);
  const mtimes = new Float64Array(names.length);
  const errors = {};
  for (let i = 0; i < names.length; i++) look(names[i], i, kinds, sizes, mtimes, errors);
  return { id: m.id, kinds, sizes, mtimes, errors };
}

/**
 * Files grouped by directory: each file re-checked when asked (a regular file of the planned
 * size and mtime, else it is left and its state returned), then unlinked. A directory whose
 * planned files are all gone is removed if it is empty and its path still names it; a
 * directory handed over with its descriptor is closed here (after an rmdir the close is what
 * frees the inode: a journal write the main thread must not wait for).
 */
function removeAll(m) {
  const names = m.names.split('\0');
  const n = names.length;
  const outcomes = new Uint8Array(n);
  const kinds = new Uint8Array(n);
  const sizes = new Float64Array(n);
  const mtimes = new Float64Array(n);
  const errors = {};
  const dirs = new Uint8Array(m.dirs.length); // 0 kept, 1 removed, 2 moved or swapped
  for (let d = 0; d < m.dirs.length; d++) {
    const dir = m.dirs[d];
    let allGone = true;
    for (let i = dir.first; i < dir.first + dir.count; i++) {
      if (m.mode[i] === SKIP) {
        outcomes[i] = GONE_OUT;
        continue;
      }
      if (m.mode[i] === RECHECK) {
        look(names[i], i, kinds, sizes, mtimes, errors);
        if (kinds[i] !== FILE || sizes[i] !== m.expect[2 * i] || mtimes[i] !== m.expect[2 * i + 1]) {
          outcomes[i] = kinds[i] === GONE ? GONE_OUT : MISMATCH;
          if (kinds[i] !== GONE) allGone = false;
          continue;
        }
      }
      try {
        fs.unlinkSync(names[i]);
        outcomes[i] = DELETED;
      } catch (err) {
        if (err.code === 'ENOENT') outcomes[i] = GONE_OUT;
        else {
          outcomes[i] = FAILED;
          errors[i] = errorOf(err);
          allGone = false;
        }
      }
    }
    if (dir.abs !== null) {
      const st = fs.lstatSync(dir.abs, { throwIfNoEntry: false });
      const moved = !st || !st.isDirectory() || st.dev !== dir.dev || st.ino !== dir.ino;
      if (moved) dirs[d] = 2;
      else if (allGone && dir.rmdir) {
        try {
          fs.rmdirSync(dir.name);
          dirs[d] = 1;
        } catch {
          // not empty (a file nobody planned), or not ours: kept
        }
      }
    }
    if (dir.fd >= 0) {
      try {
        fs.closeSync(dir.fd);
      } catch {
        // already closed: nothing to release
      }
    }
  }
  return { id: m.id, outcomes, kinds, sizes, mtimes, errors, dirs };
}

parentPort.on('message', (m) => {
  let reply;
  try {
    reply = m.op === 'look' ? lookAll(m) : removeAll(m);
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: { message: err.message, ...(typeof err.code === 'string' ? { code: err.code } : {}) } });
    return;
  }
  const transfer = [reply.kinds.buffer, reply.sizes.buffer, reply.mtimes.buffer, ...(reply.outcomes ? [reply.outcomes.buffer, reply.dirs.buffer] : [])];
  parentPort.postMessage(reply, transfer);
});
