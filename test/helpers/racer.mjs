// A hostile process for the confinement tests: swaps each given directory for a symlink to a
// look-alike outside the root (same names, sizes, mtimes) and back, as fast as it can, until
// SIGTERM. Every swap is counted in the file named by argv[3] on exit. Plain JS: no build.
// argv[2]: JSON file of [{ dir, outside }] (absolute paths); argv[4]: ms between rounds (default 0);
// argv[5]: directories swapped out at once, at most (default 8).
import fs from 'node:fs';

const pairs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let swaps = 0;
const pause = Number(process.argv[4] ?? 0);
const most = Number(process.argv[5] ?? 8);
let stop = false;
process.on('SIGTERM', () => {
  stop = true;
});

function swapOut({ dir, outside }) {
  try {
    fs.renameSync(dir, `${dir}.real`);
  } catch {
    return false; // removed by the run, or swapped already
  }
  try {
    fs.symlinkSync(outside, dir);
  } catch {
    /* the run recreated or removed it: leave the real one aside, put back below */
  }
  swaps++;
  return true;
}

function swapBack({ dir }) {
  try {
    if (fs.lstatSync(dir).isSymbolicLink()) fs.unlinkSync(dir);
  } catch {
    /* gone */
  }
  try {
    fs.renameSync(`${dir}.real`, dir);
  } catch {
    /* removed by the run (it was empty) */
  }
}

const out = [];
function tick() {
  if (stop) {
    for (const p of out.splice(0)) swapBack(p);
    fs.writeFileSync(process.argv[3], String(swaps));
    process.exit(0);
  }
  // Swap a handful out, then put back the ones swapped before: some are always swapped.
  for (let i = 0; i < Math.min(4, most) && pairs.length; i++) {
    const p = pairs[Math.floor(Math.random() * pairs.length)];
    if (!out.includes(p) && swapOut(p)) out.push(p);
  }
  while (out.length > most) swapBack(out.shift());
  if (pause) setTimeout(tick, pause);
  else setImmediate(tick);
}
fs.writeFileSync(process.argv[3], 'started');
tick();
