/** Parses HotSpot's `GC.class_histogram` text into rows. */

export interface HistogramRow {
  readonly rank: number;
  readonly instances: number;
  readonly bytes: number;
  readonly className: string;
  /** `java.base@17.0.15`, when the JVM names one. */
  readonly module?: string;
}

export interface ClassHistogram {
  readonly rows: HistogramRow[];
  /** Every row of the JVM's histogram, not only those returned. */
  readonly totalClasses: number;
  readonly totalInstances: number | null;
  readonly totalBytes: number | null;
}

const ROW = /^\s*(\d+):\s+(\d+)\s+(\d+)\s+(\S+)(?:\s+\((.+)\))?\s*$/;
const TOTAL = /^Total\s+(\d+)\s+(\d+)\s*$/;

/** The first `limit` rows (the JVM sorts them by bytes) and the totals. */
export function parseClassHistogram(text: string, limit: number): ClassHistogram {
  const rows: HistogramRow[] = [];
  let totalClasses = 0;
  let totalInstances: number | null = null;
  let totalBytes: number | null = null;
  for (const line of text.split("\n")) {
    const m = ROW.exec(line);
    if (m) {
      totalClasses++;
      if (rows.length < limit) {
        rows.push({
          rank: Number(m[1]),
          instances: Number(m[2]),
          bytes: Number(m[3]),
          className: m[4]!,
          ...(m[5] !== undefined ? { module: m[5] } : {}),
        });
      }
      continue;
    }
    const t = TOTAL.exec(line.trim());
    if (t) {
      totalInstances = Number(t[1]);
      totalBytes = Number(t[2]);
    }
  }
  return { rows, totalClasses, totalInstances, totalBytes };
}
