/**
 * The evaluation as the deployed state machine runs it, through the steps' exported functions:
 * Aggregate, then Assess for each partner of its items object (the EvaluatePartners Map, one item at
 * a time), then Assemble. `context` goes to Aggregate, the only step that queries Athena.
 */
import { readS3Text } from '../../functions/adapters/s3/s3-report-store.js';
import { type AggregateDeps, aggregate } from '../../functions/handlers/aggregate.handler.js';
import { assemble } from '../../functions/handlers/assemble.handler.js';
import { assess } from '../../functions/handlers/assess.handler.js';
import type { AggregateOutput, EvaluateOutput } from '../../functions/handlers/step-contracts.js';
import type { StepContext } from '../../functions/handlers/step-deadline.js';

/** The registry's Glue tables that Aggregate attributes with, as the stack names them. */
export const REGISTRY_TABLES: AggregateDeps['registryTables'] = {
  principals: 'registry_principals',
  contractTerms: 'registry_contract_terms',
  ignoredRequesters: 'registry_ignored_requesters',
  networks: 'registry_networks',
};

export async function evaluateSteps(
  deps: AggregateDeps,
  input: Record<string, unknown>,
  context?: StepContext,
): Promise<EvaluateOutput> {
  const aggregated: AggregateOutput = await aggregate(deps, input, context);
  const { runId, aggregateKey, itemsKey } = aggregated;
  const items = JSON.parse(await readS3Text(deps.s3, deps.reportBucket, itemsKey)) as { partnerId: string }[];
  for (const { partnerId } of items) await assess(deps, { runId, aggregateKey, partnerId });
  return assemble(deps, { runId, aggregateKey, itemsKey });
}
