/**
 * The partner registry (and its dataset manifest, if it names one), already validated at synth by
 * the config loader, copied to a versioned config bucket where the audit functions read it. A
 * registry edit is a deploy: the change is reviewed, and the bucket keeps every earlier version.
 * The manifest goes twice: as written (`registry/manifest.csv`), and in the canonical form the Athena
 * manifest table reads (`registry/manifest-table/manifest.csv`, see manifest-csv.ts), alone in its
 * folder since the deployment prunes everything else under `registry/`. The registry's canonical rows
 * for attribution in SQL (functions/domain/attribution-table.ts) go the same way, as JSON Lines, one
 * folder each, for the Glue tables of registry-tables.ts.
 */
import { readFileSync } from 'node:fs';
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct, type IConstruct } from 'constructs';
import { athenaManifestCsv } from '../../functions/adapters/athena/manifest-csv.js';
import { attributionTables, toJsonLines } from '../../functions/domain/attribution-table.js';
import { declaredNetworkRows } from '../../functions/domain/network-findings.js';
import { parseRegistry } from '../../functions/domain/registry.js';
import {
  acknowledge,
  acknowledgeWildcardAction,
  acknowledgeWildcardResource,
  acknowledgeWildcardResourcesMatching,
} from '../nag.js';
import { newSecureBucket } from './secure-bucket.js';

/** Props of {@link RegistryDeployment}. */
export interface RegistryDeploymentProps {
  /** Path of the registry file (YAML or JSON). It is validated again here, so a bad file never deploys. */
  readonly registryFile: string;
  /**
   * Path of the dataset manifest CSV.
   * @default no manifest
   */
  readonly manifestFile?: string;
  /** Where the config bucket's server access logs go. */
  readonly serverAccessLogs: s3.IBucket;
}

const PREFIX = 'registry/';
/** The canonical manifest, under PREFIX, in a folder of its own: the Athena table's location. */
const MANIFEST_TABLE_OBJECT = 'manifest-table/manifest.csv';
/** The canonical registry rows, under PREFIX, each in a folder of its own: the registry tables' locations. */
const REGISTRY_TABLE_OBJECTS = {
  principals: 'principals-table/principals.jsonl',
  contractTerms: 'contract-terms-table/contract-terms.jsonl',
  ignoredRequesters: 'ignored-requesters-table/ignored-requesters.jsonl',
  networks: 'networks-table/networks.jsonl',
} as const;

/** The config bucket holding `registry/registry.yaml` (and the manifest, as written and canonical). */
export class RegistryDeployment extends Construct {
  readonly bucket: s3.Bucket;
  /** Key of the registry object. */
  readonly registryKey = `${PREFIX}registry.yaml`;
  /** Key of the manifest object, when there is one. */
  readonly manifestKey?: string;
  /** Key of the manifest's canonical CSV for the Athena manifest table, when there is a manifest. */
  readonly manifestTableKey?: string;
  /** Keys of the registry's canonical rows (principals, contract terms, ignored requesters, declared networks) for registry-tables.ts. */
  readonly registryTableKeys: Readonly<Record<keyof typeof REGISTRY_TABLE_OBJECTS, string>> = {
    principals: `${PREFIX}${REGISTRY_TABLE_OBJECTS.principals}`,
    contractTerms: `${PREFIX}${REGISTRY_TABLE_OBJECTS.contractTerms}`,
    ignoredRequesters: `${PREFIX}${REGISTRY_TABLE_OBJECTS.ignoredRequesters}`,
    networks: `${PREFIX}${REGISTRY_TABLE_OBJECTS.networks}`,
  };
  readonly deployment: s3deploy.BucketDeployment;

  constructor(scope: Construct, id: string, props: RegistryDeploymentProps) {
    super(scope, id);
    const text = readFileSync(props.registryFile, 'utf8');
    const registry = parseRegistry(text, props.registryFile);
    if (registry.settings.manifest && !props.manifestFile) {
      throw new Error(
        `RegistryDeployment: ${props.registryFile} names a manifest (${registry.settings.manifest}) but no manifestFile was given`,
      );
    }
    this.bucket = newSecureBucket(this, 'ConfigBucket', {
      accessLogs: props.serverAccessLogs,
      accessLogsPrefix: 'config/',
    });
    const rows = attributionTables(registry);
    const sources = [
      s3deploy.Source.data('registry.yaml', text),
      s3deploy.Source.data(REGISTRY_TABLE_OBJECTS.principals, toJsonLines(rows.principals)),
      s3deploy.Source.data(REGISTRY_TABLE_OBJECTS.contractTerms, toJsonLines(rows.terms)),
      s3deploy.Source.data(REGISTRY_TABLE_OBJECTS.ignoredRequesters, toJsonLines(rows.ignored)),
      s3deploy.Source.data(REGISTRY_TABLE_OBJECTS.networks, toJsonLines(declaredNetworkRows(registry))),
    ];
    if (props.manifestFile) {
      const manifestText = readFileSync(props.manifestFile, 'utf8');
      // Parsed again as the registry is: a manifest either engine would refuse never deploys.
      const canonical = athenaManifestCsv(manifestText, props.manifestFile);
      this.manifestKey = `${PREFIX}manifest.csv`;
      this.manifestTableKey = `${PREFIX}${MANIFEST_TABLE_OBJECT}`;
      sources.push(
        s3deploy.Source.data('manifest.csv', manifestText),
        s3deploy.Source.data(MANIFEST_TABLE_OBJECT, canonical),
      );
    }
    // An own role and log group instead of the default role with the AWSLambdaBasicExecutionRole managed policy.
    const role = new iam.Role(this, 'DeploymentRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Copies the partner registry into the config bucket at deploy time',
    });
    const logGroup = new logs.LogGroup(this, 'DeploymentLogs', { retention: logs.RetentionDays.ONE_MONTH });
    logGroup.grantWrite(role);
    this.deployment = new s3deploy.BucketDeployment(this, 'Deploy', {
      sources,
      destinationBucket: this.bucket,
      destinationKeyPrefix: PREFIX,
      prune: true,
      retainOnDelete: true,
      role,
      logGroup,
    });
    this.acknowledgeDeploymentFindings(role);
  }

  /** Read exactly the registry and manifest objects. */
  grantRead(grantee: iam.IGrantable): void {
    const keys = [this.registryKey, ...(this.manifestKey ? [this.manifestKey] : [])];
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: keys.map((k) => this.bucket.arnForObjects(k)),
      }),
    );
  }

  /**
   * BucketDeployment's own grants and handler are fixed by aws-cdk-lib: acknowledge exactly the
   * findings they cause, on this construct's role and on the shared handler function.
   */
  private acknowledgeDeploymentFindings(role: iam.Role): void {
    const stack = Stack.of(this);
    for (const action of ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*']) {
      acknowledgeWildcardAction(
        role,
        action,
        `BucketDeployment (aws-cdk-lib) grants ${action} to copy the asset and prune the registry/ prefix; it runs only during deployment.`,
      );
    }
    acknowledgeWildcardResource(
      role,
      this.bucket.arnForObjects('*'),
      'BucketDeployment (aws-cdk-lib) grants its copy on the whole config bucket, which holds nothing but the deployed registry.',
    );
    acknowledgeWildcardResourcesMatching(
      role,
      /^arn:(aws[a-z-]*|<AWS::Partition>):s3:::cdk-[a-z0-9]+-assets-[^/]+\/\*$/,
      'BucketDeployment (aws-cdk-lib) reads the registry asset from the CDK bootstrap asset bucket, whose object keys are content hashes.',
    );
    for (const child of stack.node.children as IConstruct[]) {
      if (child.node.id.startsWith('Custom::CDKBucketDeployment')) {
        acknowledge(
          child,
          'L1',
          'The BucketDeployment handler’s Python runtime is chosen by aws-cdk-lib, not by this project; it runs only during deployment.',
        );
      }
    }
  }
}
