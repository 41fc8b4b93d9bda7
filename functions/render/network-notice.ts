/**
 * The `unexplained-access` notice (NETWORKS.md): the partner's credentials were used from outside the
 * networks its applications declared, for the first time in the period. Plain text and HTML saying the
 * same, in one MIME message; every value from the logs or the registry is escaped by the `html` tag.
 */
import type { PartnerPeriodEvaluation } from '../domain/evaluation.js';
import { type NetworkFinding, UNEXPLAINED_ACCESS_LEVEL } from '../domain/network-findings.js';
import type { Partner, Registry } from '../domain/registry.js';
import type { OutgoingMessage } from '../ports.js';
import { formatBytes, formatCount } from './format.js';
import { html } from './html.js';
import { formatMailbox } from './mailbox.js';
import { buildMime } from './mime.js';

export interface ComposeNetworkNoticeInput {
  readonly registry: Registry;
  readonly partner: Partner;
  readonly evaluation: PartnerPeriodEvaluation;
  /** The partner's findings first seen in the period. */
  readonly findings: readonly NetworkFinding[];
  readonly messageId: string;
  readonly date: Date;
  readonly reportRef: string;
  readonly evidenceRef: string;
}

function sourceLine(f: NetworkFinding): string {
  const where = [
    `source ${f.sourcePrefix}`,
    f.vpcEndpoint === '-' ? '' : `VPC endpoint ${f.vpcEndpoint}`,
    f.sourceRegion === '-' ? '' : `region ${f.sourceRegion}`,
  ]
    .filter((s) => s !== '')
    .join(', ');
  const other = f.declaredBy === null ? '' : ` (a network another partner declared)`;
  return (
    `${f.applicationId}: ${f.requester} from ${where}${other}: ${formatCount(f.requests)} requests, ` +
    `${formatBytes(f.bytesSent)}, first ${new Date(f.firstSeenMs).toISOString()}, last ${new Date(f.lastSeenMs).toISOString()}`
  );
}

/** Composes the notice. To: the partner's account owners; Cc: internal contacts; Reply-To: the provider. */
export async function composeUnexplainedAccessNotice(
  input: ComposeNetworkNoticeInput,
): Promise<OutgoingMessage> {
  const { registry, partner, evaluation: ev } = input;
  const provider = registry.provider;
  const key = { partnerId: ev.partnerId, periodId: ev.period.id, level: UNEXPLAINED_ACCESS_LEVEL };
  // The outside-network sources; a shared-credential finding repeats one of them with whose network it was.
  const shared = new Set(
    input.findings.filter((f) => f.declaredBy !== null).map((f) => `${f.requester}\0${f.sourcePrefix}`),
  );
  const sources = input.findings.filter((f) => f.declaredBy === null);
  const lines = sources.map(
    (f) =>
      `${sourceLine(f)}${shared.has(`${f.requester}\0${f.sourcePrefix}`) ? ' [a network another partner declared]' : ''}`,
  );
  const subject = `[Action required] ${partner.name}: access from outside your declared networks (${ev.period.id})`;
  const intro =
    `Requests signed with credentials registered to ${partner.name} were made from networks that none of ` +
    `your applications declared, for the first time in period ${ev.period.id}.`;
  const ask = `Please tell us who made these requests, or write to ${provider.contactEmail} to declare the networks. Evidence: ${input.evidenceRef} (report ${input.reportRef}).`;
  const text = `${intro}\n\n${lines.map((l) => `- ${l}`).join('\n')}\n\n${ask}\n\n${provider.name}\n`;
  const body =
    html`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${subject}</title></head><body><p>${intro}</p><ul>${lines.map((l) => html`<li>${l}</li>`)}</ul><p>${ask}</p><p>${provider.name}</p></body></html>`.toString();
  const to = partner.accountOwners.map((o) => formatMailbox(o));
  const cc = partner.internalContacts.map((o) => formatMailbox(o));
  const raw = await buildMime({
    from: provider.noticeFrom,
    to,
    cc,
    replyTo: provider.contactEmail,
    subject,
    text,
    html: body,
    messageId: input.messageId,
    date: input.date,
    headers: {
      'Auto-Submitted': 'auto-generated',
      'X-Partner-Audit-Notice': `${key.partnerId}/${key.periodId}/${key.level}`,
      'X-Partner-Audit-Report': input.reportRef,
    },
  });
  return {
    key,
    messageId: input.messageId,
    from: provider.noticeFrom,
    to,
    cc,
    subject,
    text,
    html: body,
    raw,
  };
}
