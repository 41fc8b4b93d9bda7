/**
 * Mailboxes (`Jane Doe <jane@x.example>`), read and written in one place for the notices, the MIME
 * composer, the SES envelope and the notify handler's sender check.
 */

/** Something in the message's inputs cannot be written as a valid MIME message. */
export class MimeError extends Error {
  override readonly name: string = 'MimeError';
}

/** A header value carried CR or LF, which would let it start a header (or the body) of its own. */
export class HeaderInjectionError extends MimeError {
  override readonly name = 'HeaderInjectionError';
  constructor(
    readonly header: string,
    readonly value: string,
  ) {
    super(`${header} must not contain CR or LF: ${JSON.stringify(value.slice(0, 120))}`);
  }
}

/** An address that is not a plain ASCII `local@domain` mailbox. */
export class AddressError extends MimeError {
  override readonly name = 'AddressError';
  constructor(
    readonly header: string,
    readonly value: string,
    reason: string,
  ) {
    super(`${header}: ${JSON.stringify(value.slice(0, 120))} ${reason}`);
  }
}

/** A mailbox: an optional display name and an email address. */
export interface Mailbox {
  readonly name?: string;
  readonly email: string;
}

/** A mailbox as an object, or as text: `jane@x.example` or `Jane Doe <jane@x.example>`. */
export type AddressInput = string | Mailbox;

export const CR_OR_LF = /[\r\n]/;
// Other C0 controls and DEL have no business in a display name or subject; tab is kept as a space.
export const OTHER_CONTROLS = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;
// Deliberately ASCII-only (no SMTPUTF8): SES and most relays would reject anything else anyway.
const EMAIL =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const ATOM_PHRASE = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+$/;

/**
 * Parse `Jane Doe <jane@x.example>`, `"Doe, Jane" <jane@x.example>` or `jane@x.example`.
 * Throws HeaderInjectionError on CR/LF, AddressError on anything that is not a plain mailbox.
 */
export function parseMailbox(text: string, header = 'address'): Mailbox {
  if (CR_OR_LF.test(text)) throw new HeaderInjectionError(header, text);
  const trimmed = text.trim();
  const angle = /^(.*?)\s*<([^<>]*)>$/.exec(trimmed);
  if (!angle) return checkMailbox({ email: trimmed }, header, text);
  let name = angle[1]!.trim();
  const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(name);
  if (quoted) name = quoted[1]!.replace(/\\(.)/g, '$1');
  return checkMailbox(name ? { name, email: angle[2]!.trim() } : { email: angle[2]!.trim() }, header, text);
}

/** A mailbox given as text or as an object, checked the same way as parseMailbox. */
export function toMailbox(input: AddressInput, header: string): Mailbox {
  if (typeof input === 'string') return parseMailbox(input, header);
  return checkMailbox(input, header, `${input.name ?? ''} <${input.email}>`);
}

function checkMailbox(m: Mailbox, header: string, original: string): Mailbox {
  if (CR_OR_LF.test(m.email) || (m.name !== undefined && CR_OR_LF.test(m.name))) {
    throw new HeaderInjectionError(header, original);
  }
  if (m.email.length > 254 || !EMAIL.test(m.email)) {
    throw new AddressError(header, original, 'is not an address of the form local@domain (ASCII)');
  }
  const name = m.name?.replace(/\t/g, ' ').replace(OTHER_CONTROLS, '').trim();
  return name ? { name, email: m.email } : { email: m.email };
}

/** A mailbox for people and for logs: `"Doe, Jane" <jane@x.example>` (not header-encoded). */
export function formatMailbox(m: Mailbox): string {
  if (!m.name) return m.email;
  const name = ATOM_PHRASE.test(m.name) ? m.name : `"${m.name.replace(/(["\\])/g, '\\$1')}"`;
  return `${name} <${m.email}>`;
}
