/** Plain-text rendering for people: aligned tables and the story of one conversion. */
import type { Attempt, ConversionRecord, OrderUpdatesRecord, UpdateEntry, UpdateState } from '#lambdas/core/model.js';

export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (c ?? '').padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
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
  unconfirmed:
    'Partnerize cut the connection after the call went out, without answering: it may have counted it, so it is not sent again by itself. Look for the conversionRef in Partnerize (`reconcile`, or its console): there → `confirm --reason <how you know>`; not there → `replay`',
  unattributed: 'no live clickref for the session: never sent; `replay --clickref <ref>` if you know it',
  no_consent: 'no consent to affiliate tracking: never sent',
  dry_run: 'dry run: the call below was recorded, not sent; `replay` sends it (add --live while the tracker runs a dry run)',
};

/** What came back: the HTTP status, or why nothing did (cause and host), and whether the call may have landed. */
function answerOf(a: Attempt): string {
  if (a.status !== undefined) return a.deliveredEarlier ? `${a.status} (duplicate: delivered earlier)` : String(a.status);
  const why = a.cause && a.cause !== a.error ? `${a.error ?? 'error'}: ${a.cause}` : (a.error ?? '-');
  return `${why}${a.host ? ` (${a.host})` : ''}${a.uncertain ? ', may have landed' : ''}`;
}

export function attemptRow(a: Attempt, i: number): string[] {
  return [String(i + 1), a.at, a.trigger, a.result, answerOf(a), `${a.latencyMs} ms`, (a.body ?? '').replace(/\s+/g, ' ').slice(0, 60)];
}

const COMPACTION: Record<string, string> = {
  lines: 'identical lines merged (nothing lost)',
  category: 'one item per category (SKUs and item metadata not sent)',
  order: 'one item for the whole order',
  order_without_metadata: 'one item for the whole order, without conversion metadata',
};

/** Owed sends wait while the tracker runs a dry run: its sweep holds them until it runs live. */
const HELD_WHILE_DRY = 'owed, and held: the tracker now runs a dry run, so nothing is sent until it runs live';

/** The story of one conversion; `trackerMode` (the target's) tells an owed send that waits for live mode. */
export function renderConversion(r: ConversionRecord, trackerMode?: 'live' | 'dryrun' | 'unknown'): string {
  const owed = r.status === 'queued' || r.status === 'pending';
  const confirmed = r.status === 'sent' && r.attempts.at(-1)?.trigger === 'confirm';
  const next =
    owed && trackerMode === 'dryrun'
      ? HELD_WHILE_DRY
      : confirmed
        ? 'an operator confirmed that Partnerize holds it (the call had been cut; no call was made since)'
        : (WHAT_NEXT[r.status] ?? '');
  const lines = [
    `Conversion ${r.conversionRef}: ${r.status.toUpperCase()} — ${next}`,
    `  order      ${r.orderId} at ${utc(r.orderTime)}, ${r.currency} ${r.orderValue}, ${r.itemCount} item${r.itemCount === 1 ? '' : 's'} (${r.source} postback, ${r.mode} mode)`,
    `  clickref   ${r.clickref ?? '—'}  (${CLICKREF_SOURCE[r.clickrefSource] ?? r.clickrefSource}${r.clickedAt ? `, clicked ${r.clickedAt}` : ''})`,
    `  session    ${r.sessionId ?? '—'}`,
    `  campaign   ${r.campaignId ?? '—'}${r.campaign ? ` (${r.campaign}${r.routedBy ? `, routed by ${r.routedBy}` : ''})` : ''}`,
    `  consent    ${r.consent === undefined ? 'not given' : String(r.consent)} (policy ${r.consentPolicy})   device ${r.device ?? '—'}`,
    `  recorded   ${r.createdAt}   last change ${r.updatedAt}`,
  ];
  if (r.dueAt !== undefined && (r.status === 'queued' || r.status === 'pending')) {
    lines.push(`  next send  ${new Date(r.dueAt).toISOString()} (retries so far: ${r.retries})`);
  }
  lines.push(`  call       ${r.request ? `${r.request.method} ${r.request.url}` : '— (nothing to send)'}`);
  if (r.compaction)
    lines.push(
      `  basket     too long for one call as sent: ${COMPACTION[r.compaction] ?? r.compaction}; the ${r.call?.items.length ?? r.itemCount} items received are on the record (--json)`,
    );
  if (r.operatorConsent) {
    const said = r.operatorConsent.postbackConsent;
    lines.push(
      `  consent    confirmed by an operator at ${r.operatorConsent.at}: ${r.operatorConsent.reason} (the postback said ${said === undefined ? 'nothing' : String(said)})`,
    );
  }
  for (const h of r.history ?? []) {
    lines.push(
      `  earlier    ${h.status} since ${h.createdAt} (consent ${h.consent === undefined ? 'not given' : String(h.consent)}, clickref ${h.clickrefSource}), replaced ${h.supersededAt}${h.request ? ` — recorded call ${h.request.url}` : ''}`,
    );
  }
  if (r.attemptStarted && r.leaseId)
    lines.push(`  in flight  an attempt started at ${r.attemptStarted.at} (${r.attemptStarted.trigger}) has no result yet`);
  lines.push('');
  lines.push(
    r.attempts.length === 0
      ? 'Attempts: none'
      : `Attempts:\n${table(['#', 'at', 'trigger', 'result', 'status', 'latency', 'answer'], r.attempts.map(attemptRow))}`,
  );
  return lines.join('\n');
}

const UPDATE_STATE: Record<UpdateState, string> = {
  owed: 'to be sent on the next retry run',
  held: 'waiting',
  submitted: 'in a Partnerize job, followed until it finishes',
  applied: 'Partnerize applied it',
  failed: 'Partnerize did not apply it',
  rejected: 'Partnerize refused it (4xx)',
  superseded: 'nothing to do',
  not_applicable: 'nothing to update',
};

/** What an update asked, in words: `cancel`, `refund of SKU-1 ×1`, `approve (forced)`. */
function updateWhat(e: UpdateEntry): string {
  const lines = e.items?.map((l) => `${l.sku} ×${l.quantity}${l.value ? ` at ${l.value}` : ''}`).join(', ');
  return `${e.kind.replace('_', ' ')}${lines ? ` of ${lines}` : ''}${e.force ? ' (forced)' : ''}`;
}

/** The update history of a conversion (order cancellations, returns, approvals) and where each one is. */
export function renderUpdates(r: OrderUpdatesRecord, trackerMode?: 'live' | 'dryrun' | 'unknown'): string {
  const entries = Object.values(r.entries).sort((a, b) => a.seq - b.seq || a.id.localeCompare(b.id));
  const stateOf = (e: UpdateEntry) =>
    e.state === 'owed' && trackerMode === 'dryrun' ? 'held: the tracker runs a dry run, sent when it runs live' : UPDATE_STATE[e.state];
  const rows = entries.map((e, i) => [
    String(i + 1),
    e.acceptedAt,
    updateWhat(e).slice(0, 48),
    e.source,
    e.state,
    e.jobId ?? '-',
    (e.note ?? stateOf(e)).slice(0, 90),
  ]);
  const lines = [
    `Updates of ${r.ref} (campaign ${r.campaignId}; sent to Partnerize's bulk conversion update API by the retry function):`,
    table(['#', 'accepted', 'update', 'source', 'state', 'job', 'what happens / happened'], rows),
  ];
  for (const e of entries) if (e.reason) lines.push(`  #${entries.indexOf(e) + 1} reason: ${e.reason}`);
  for (const e of entries) {
    if (!e.sent) continue;
    lines.push(`  #${entries.indexOf(e) + 1} sent: ${e.sent.form} ${JSON.stringify(e.sent.updates)}`);
  }
  if (r.dueAt !== undefined && r.dueShard) lines.push(`  next look  ${new Date(r.dueAt).toISOString()}`);
  return lines.join('\n');
}
