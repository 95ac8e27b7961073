// Renders an export job's file: a CSV whose rows are derived from the job's data, the same
// bytes for the same data.
import { prng } from '../prng.ts';

export interface RenderedExport {
  role: 'export.csv';
  contentType: 'text/csv';
  ext: 'csv';
  exportType: string;
  bytes: Buffer;
}

export function renderExport(jobId: string, data: Record<string, unknown>): RenderedExport {
  const exportType = typeof data.exportType === 'string' ? data.exportType : 'report';
  const rows = Math.max(0, Math.min(100_000, Number(data.rows ?? 10) || 0));
  const rnd = prng(Number(data.seed ?? 1));
  const lines = ['job_id,line,sku,quantity,amount'];
  for (let i = 1; i <= rows; i++) {
    lines.push(`${jobId},${i},SKU-${Math.floor(rnd() * 1e5).toString().padStart(5, '0')},${1 + Math.floor(rnd() * 20)},${(rnd() * 1000).toFixed(2)}`);
  }
  return { role: 'export.csv', contentType: 'text/csv', ext: 'csv', exportType, bytes: Buffer.from(lines.join('\n') + '\n') };
}
