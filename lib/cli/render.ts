/** Plain-text rendering for people: aligned tables and the story of one conversion. */
import type { Attempt, ConversionRecord } from '../../lambdas/core/model.js';

export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const utc = (ms: number) => `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;

const CLICKREF_SOURCE: Record<string, string> = {
  postback: 'sent in the postback itself',
  click: "the session's latest click",
  operator: 'supplied by an operator (replay --clickref)',
  none: 'none found',
};

const WHAT_NEXT: Partial<Record<ConversionRecord['status'], string>> = {
  pending: 'being sent now (or its sender died: the retry function takes it over when the lease ends)',
  queued: 'owed: the retry function sends it when due',
  sent: 'Partnerize accepted it',
  rejected: 'Partnerize refused it (4xx): see the last answer; fix and `replay`',
  failed: 'every scheduled retry failed: `requeue --failed` or `replay`',
  unattributed: 'no live clickref for the session: never sent; `replay --clickref <ref>` if you know it',
  no_consent: 'no consent to affiliate tracking: never sent',
  dry_run: 'dry run: the call below was recorded, not sent; `replay` sends it',
};

export function attemptRow(a: Attempt, i: number): string[] {
  return [
    String(i + 1),
    a.at,
    a.trigger,
    a.result,
    a.status === undefined ? (a.error ?? '-') : String(a.status),
    `${a.latencyMs} ms`,
    (a.body ?? '').replace(/\s+/g, ' ').slice(0, 60),
  ];
}

export function renderConversion(r: ConversionRecord): string {
  const lines = [
    `Conversion ${r.conversionRef}: ${r.status.toUpperCase()} — ${WHAT_NEXT[r.status] ?? ''}`,
    `  order      ${r.orderId} at ${utc(r.orderTime)}, ${r.currency} ${r.orderValue}, ${r.itemCount} item${r.itemCount === 1 ? '' : 's'} (${r.source} postback, ${r.mode} mode)`,
    `  clickref   ${r.clickref ?? '—'}  (${CLICKREF_SOURCE[r.clickrefSource] ?? r.clickrefSource}${r.clickedAt ? `, clicked ${r.clickedAt}` : ''})`,
    `  session    ${r.sessionId ?? '—'}`,
    `  consent    ${r.consent === undefined ? 'not given' : String(r.consent)} (policy ${r.consentPolicy})   device ${r.device ?? '—'}`,
    `  recorded   ${r.createdAt}   last change ${r.updatedAt}`,
  ];
  if (r.dueAt !== undefined && (r.status === 'queued' || r.status === 'pending')) {
    lines.push(`  next send  ${new Date(r.dueAt).toISOString()} (retries so far: ${r.retries})`);
  }
  lines.push(`  call       ${r.request ? `${r.request.method} ${r.request.url}` : '— (nothing to send)'}`);
  lines.push('');
  lines.push(
    r.attempts.length === 0
      ? 'Attempts: none'
      : `Attempts:\n${table(['#', 'at', 'trigger', 'result', 'status', 'latency', 'answer'], r.attempts.map(attemptRow))}`,
  );
  return lines.join('\n');
}
