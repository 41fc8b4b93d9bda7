/**
 * `cdk` entry (cdk.json: `npx tsx lib/app.ts`). Settings come from deploy.config.json, or the
 * documented example when it is absent; see deploy.config.example.json. A bad setting stops synth
 * with a message naming it.
 */
import { DeployConfigError } from './config.js';
import { createPartnerAuditApp } from './partner-audit-app.js';

try {
  const { app } = createPartnerAuditApp({ cwd: process.cwd() });
  app.synth();
} catch (e) {
  if (e instanceof DeployConfigError) {
    console.error(e.message);
    process.exit(1);
  }
  throw e;
}
