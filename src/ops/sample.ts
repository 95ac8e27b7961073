// A realistic demo store: card and export jobs over the past days, with the mix of owners
// and statuses a print system has (including some stuck in processing), plus temp files.
import type { NewJob } from '../db/types.ts';

const FIRST = ['Anna', 'Ben', 'Chloé', 'David', 'Eva', 'Farid', 'Greta', 'Hiro', 'Ines', 'Jonas', 'Kasia', 'Liam', 'María', 'Noah', 'Olga', 'Pavel', 'Quinn', 'Rosa', 'Sven', 'Tomás', 'Uma', 'Viktor', 'Wen', 'Yara', 'Zoë'];
const LAST = ['Andersen', 'Brown', 'Costa', 'Dubois', 'Eriksson', 'Fischer', 'García', 'Huber', 'Ivanova', 'Jansen', 'Kowalski', 'López', 'Müller', 'Nowak', "O'Brien", 'Petrov', 'Rossi', 'Schmidt', 'Tanaka', 'Weber'];
const STREETS = ['Main St', 'High St', 'Station Rd', 'Church Ln', 'Mill Rd', 'Park Ave', 'Oak Dr'];
const CITIES = ['Springfield', 'Riverton', 'Lakeside', 'Hillview', 'Fairmont'];
const OWNERS = ['acme', 'globex', 'initech', 'umbrella', 'hooli'];
const CATEGORY_SETS = [['B'], ['A', 'B'], ['B', 'BE'], ['A2', 'B'], ['B', 'C1'], ['B', 'C', 'CE'], ['AM', 'B']];
const EXPORT_TYPES = ['report', 'audit', 'invoice'];

// Status mix of a print system's backlog: most done, some in flight, a few failed or stuck.
const CARD_STATUSES: [string, number][] = [
  ['completed', 45],
  ['printed', 8],
  ['quality_check', 6],
  ['qa_failed', 5],
  ['reprint', 3],
  ['queued', 8],
  ['assigned', 4],
  ['printing', 5],
  ['processing', 6],
  ['failed', 10],
];
const EXPORT_STATUSES: [string, number][] = [
  ['completed', 70],
  ['processing', 10],
  ['failed', 20],
];

import { prng } from '../prng.ts';

export { prng };

const isoDate = (d: Date) => d.toISOString().slice(0, 10);

export interface SampleTempFile {
  path: string;
  createdAt: Date;
  bytes: Buffer;
}

export interface SampleStore {
  jobs: NewJob[];
  temp: SampleTempFile[];
}

export function makeSample(count: number, days: number, now: Date, seed: number): SampleStore {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const weighted = (xs: [string, number][]) => {
    const total = xs.reduce((a, [, w]) => a + w, 0);
    let r = rnd() * total;
    for (const [v, w] of xs) if ((r -= w) < 0) return v;
    return xs[xs.length - 1]![0];
  };
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 16).toString(16)).join('');
  const jobs: NewJob[] = [];
  const temp: SampleTempFile[] = [];
  const span = days * 86_400_000;
  for (let i = 0; i < count; i++) {
    const createdAt = new Date(now.getTime() - Math.floor(rnd() * span) - 60_000);
    const owner = pick(OWNERS);
    const isExport = rnd() < 0.12;
    const status = weighted(isExport ? EXPORT_STATUSES : CARD_STATUSES);
    const age = now.getTime() - createdAt.getTime();
    // Jobs in flight were touched recently, unless they are stuck (older than a day).
    const stuck = ['queued', 'assigned', 'printing', 'processing'].includes(status) && rnd() < 0.3;
    const updatedAt = new Date(createdAt.getTime() + Math.floor(rnd() * Math.min(age, stuck ? age : 3_600_000)));
    const completedAt = status === 'completed' ? new Date(createdAt.getTime() + Math.floor(rnd() * Math.min(age, 6 * 3_600_000))) : null;
    const id = `${isExport ? 'exp' : 'card'}-${isoDate(createdAt).replaceAll('-', '')}-${hex(8)}`;
    if (isExport) {
      jobs.push({
        id,
        kind: 'export',
        owner,
        status,
        data: { exportType: pick(EXPORT_TYPES), rows: 5 + Math.floor(rnd() * 200), seed: Math.floor(rnd() * 1e9) },
        createdAt,
        updatedAt,
        completedAt,
      });
      continue;
    }
    const issue = new Date(createdAt.getTime() - Math.floor(rnd() * 5) * 86_400_000);
    const expiry = new Date(Date.UTC(issue.getUTCFullYear() + 10, issue.getUTCMonth(), Math.min(issue.getUTCDate(), 28)));
    const dob = new Date(Date.UTC(1950 + Math.floor(rnd() * 55), Math.floor(rnd() * 12), 1 + Math.floor(rnd() * 28)));
    jobs.push({
      id,
      kind: 'card',
      owner,
      status,
      data: {
        holderName: `${pick(FIRST)} ${pick(LAST)}`,
        licenceNumber: `${hex(4).toUpperCase()}-${Math.floor(rnd() * 1e6).toString().padStart(6, '0')}-${hex(2).toUpperCase()}`,
        categories: pick(CATEGORY_SETS),
        issueDate: isoDate(issue),
        expiryDate: isoDate(expiry),
        dateOfBirth: isoDate(dob),
        address: `${1 + Math.floor(rnd() * 200)} ${pick(STREETS)}, ${pick(CITIES)}`,
      },
      createdAt,
      updatedAt,
      completedAt,
    });
    if (rnd() < 0.08) {
      const at = new Date(now.getTime() - Math.floor(rnd() * Math.min(span, 3 * 86_400_000)));
      temp.push({ path: `temp/${id}/upload-${hex(6)}.tmp`, createdAt: at, bytes: Buffer.from(`partial upload ${hex(64)}\n`.repeat(8)) });
    }
  }
  return { jobs, temp };
}
