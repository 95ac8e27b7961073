// Job inputs as `generate --jobs -` reads them, for tests that feed generate by hand.

/** A completed card job of `owner`, fixed dates and data (its files render the same each run). */
export const cardJob = (id: string, owner: string) => ({
  id,
  owner,
  status: 'completed',
  createdAt: '2026-11-20T08:00:00Z',
  completedAt: '2026-11-20T09:00:00Z',
  data: { holderName: `Holder ${id}`, licenceNumber: 'LOVEL-815', categories: ['B'], issueDate: '2026-11-20', expiryDate: '2036-11-20' },
});

/** Jobs as NDJSON, one a line. */
export const ndjson = (jobs: object[]) => jobs.map((j) => JSON.stringify(j)).join('\n');
