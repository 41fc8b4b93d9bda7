/** The Athena query runner and tables of a handler, built once per cold start. */
import { AthenaClient } from '@aws-sdk/client-athena';
import { AthenaQueryRunner, type AthenaQueryRunnerOptions } from '../../adapters/athena/athena-client.js';
import type { AthenaTables } from '../../adapters/athena/sql.js';
import type { HandlerEnv } from '../env.js';

type AthenaEnv = Pick<
  HandlerEnv,
  'ATHENA_WORKGROUP' | 'GLUE_DATABASE' | 'LOGS_TABLE' | 'ROLLUP_TABLE' | 'AWS_ENDPOINT_URL_ATHENA'
> &
  Partial<Pick<HandlerEnv, 'MANIFEST_TABLE'>>;

export function athenaRunner(
  env: AthenaEnv,
  options: Partial<AthenaQueryRunnerOptions> = {},
): AthenaQueryRunner {
  const client = new AthenaClient(
    env.AWS_ENDPOINT_URL_ATHENA ? { endpoint: env.AWS_ENDPOINT_URL_ATHENA } : {},
  );
  return new AthenaQueryRunner(client, {
    workGroup: env.ATHENA_WORKGROUP,
    database: env.GLUE_DATABASE,
    ...options,
  });
}

/** The tables of the environment; the manifest table only where the handler loaded a set MANIFEST_TABLE. */
export function athenaTables(env: AthenaEnv): AthenaTables {
  return {
    database: env.GLUE_DATABASE,
    logsTable: env.LOGS_TABLE,
    rollupTable: env.ROLLUP_TABLE,
    ...(env.MANIFEST_TABLE ? { manifestTable: env.MANIFEST_TABLE } : {}),
  };
}
