/**
 * Error texts of notices go to the logs and the report, and SES names refused recipients in them:
 * every address of the registry's people is replaced by `<recipient>`.
 */
import type { Registry } from '../domain/registry.js';

/** Replaces every address of the registry's people in a text by `<recipient>`. */
export function redactor(registry: Registry): (text: string) => string {
  const emails = [
    ...new Set(
      registry.partners.flatMap((p) =>
        [...p.accountOwners, ...p.internalContacts].map((x) => x.email.toLowerCase()),
      ),
    ),
  ].sort((a, b) => b.length - a.length);
  if (emails.length === 0) return (text) => text;
  const pattern = new RegExp(emails.map((e) => e.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gi');
  return (text) => text.replace(pattern, '<recipient>');
}
