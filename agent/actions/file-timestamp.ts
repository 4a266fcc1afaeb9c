/** `20261126T120000Z`: a UTC timestamp that sorts and is safe in a file name (artifact names). */
export function fileTimestamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}
