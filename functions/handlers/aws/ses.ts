/** The SES mailer of the notify handler. */
import { SESClient } from '@aws-sdk/client-ses';
import { SesMailer, type SesMailerOptions } from '../../adapters/ses/ses-mailer.js';
import type { HandlerEnv } from '../env.js';

export function sesMailer(
  env: Pick<HandlerEnv, 'SES_CONFIGURATION_SET' | 'SES_MAX_SEND_RATE' | 'AWS_ENDPOINT_URL_SES'>,
  options: Partial<SesMailerOptions> = {},
): SesMailer {
  const client = new SESClient(env.AWS_ENDPOINT_URL_SES ? { endpoint: env.AWS_ENDPOINT_URL_SES } : {});
  return new SesMailer(client, {
    configurationSetName: env.SES_CONFIGURATION_SET,
    maxSendRate: env.SES_MAX_SEND_RATE,
    ...options,
  });
}
