/** The SES mailer of the notify handler. */
import { SESClient } from '@aws-sdk/client-ses';
import { SesMailer, type SesMailerOptions } from '../../adapters/ses/ses-mailer.js';
import type { Registry } from '../../domain/registry.js';
import { parseMailbox } from '../../render/mailbox.js';
import type { HandlerEnv } from '../env.js';
import type { SdkAction } from '../sdk-actions.js';

/** What SesMailer sends (see sdk-actions.ts): only when notices are really sent. */
export const SEND_RAW_EMAIL: SdkAction = {
  action: 'ses:SendRawEmail',
  on: [{ sesIdentity: true }, { sesConfigurationSet: 'SES_CONFIGURATION_SET' }],
  when: { env: 'NOTICE_MODE', equals: 'send' },
};

export function sesMailer(
  env: Pick<HandlerEnv, 'SES_CONFIGURATION_SET' | 'SES_MAX_SEND_RATE' | 'AWS_ENDPOINT_URL_SES'>,
  options: Partial<SesMailerOptions> = {},
): SesMailer {
  return new SesMailer(sesClient(env), {
    configurationSetName: env.SES_CONFIGURATION_SET,
    maxSendRate: env.SES_MAX_SEND_RATE,
    ...options,
  });
}

/** The SES client of the notify handler. */
export function sesClient(env: Pick<HandlerEnv, 'AWS_ENDPOINT_URL_SES'>): SESClient {
  return new SESClient({
    ...(env.AWS_ENDPOINT_URL_SES ? { endpoint: env.AWS_ENDPOINT_URL_SES } : {}),
    // One attempt per call: the SDK would resend after a timeout, when SES may have taken the message
    // already. The mailer retries only what SES refused (throttling), which never left.
    maxAttempts: 1,
    // A call that hangs fails in time for the step to report it, well inside the Lambda's timeout.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 20_000 },
  });
}

/** `partner-audit.<domain of the provider's notice sender>`, for Message-IDs. */
export function messageIdDomain(registry: Registry): string {
  const email = parseMailbox(registry.provider.noticeFrom, 'provider.noticeFrom').email;
  return `partner-audit.${email.slice(email.indexOf('@') + 1)}`;
}
