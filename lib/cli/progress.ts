/** A progress bar on a terminal; a final line elsewhere. */
export interface ProgressOut {
  write(s: string): unknown;
  isTTY?: boolean | undefined;
}

export function progressBar(out: ProgressOut, label: string, width = 30) {
  return {
    update(done: number, total: number): void {
      if (!out.isTTY) return;
      const filled = total === 0 ? width : Math.round((done / total) * width);
      out.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
    },
    finish(done: number, total: number): void {
      if (out.isTTY) out.write('\n');
      else out.write(`${label}: ${done}/${total}\n`);
    },
  };
}
