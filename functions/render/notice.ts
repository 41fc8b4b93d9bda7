/**
 * A notice as the message that carries it: the view model (notice-view.ts) as plain text and HTML,
 * in one MIME message. Pure: the notice date, Message-ID and report references are handed in, so the
 * same input gives the same bytes.
 */
import type { OutgoingMessage } from '../ports.js';
import { formatMailbox } from './mailbox.js';
import { buildMime } from './mime.js';
import { noticeHtml } from './notice-html.js';
import { noticeText } from './notice-text.js';
import { type ComposeNoticeInput, noticeView } from './notice-view.js';

export { type ComposeNoticeInput, NoticeLevelError } from './notice-view.js';

/**
 * Compose the notice for one level of one partner's period: subject, plain text and HTML saying the
 * same, and the MIME message. To: the partner's account owners; Cc: the provider's internal
 * contacts for it; Reply-To: the provider's contact address.
 */
export async function composeNotice(input: ComposeNoticeInput): Promise<OutgoingMessage> {
  const view = noticeView(input);
  const { key, messageId, subject } = view;
  const text = noticeText(view);
  const html = noticeHtml(view);
  const provider = input.registry.provider;
  const to = input.partner.accountOwners.map((o) => formatMailbox(o));
  const cc = input.partner.internalContacts.map((o) => formatMailbox(o));
  const raw = await buildMime({
    from: provider.noticeFrom,
    to,
    cc,
    replyTo: view.contact,
    subject,
    text,
    html,
    messageId,
    date: input.date,
    headers: {
      'Auto-Submitted': 'auto-generated',
      'X-Partner-Audit-Notice': `${key.partnerId}/${key.periodId}/${key.level}`,
      'X-Partner-Audit-Report': view.reportRef,
    },
  });
  return { key, messageId, from: provider.noticeFrom, to, cc, subject, text, html, raw };
}
