/**
 * What sending notices needs: the SES identity notices are sent from, a configuration set (TLS
 * required, suppression of bounces and complaints, delivery events as CloudWatch metrics) and the
 * DynamoDB ledger whose conditional writes make each partner x period x level notified once.
 */
import { CfnOutput, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ses from 'aws-cdk-lib/aws-ses';
import { Construct } from 'constructs';
import { LEDGER_INDEX } from '../../functions/adapters/dynamodb/dynamodb-ledger.js';
import { WATERMARK_PK } from '../../functions/adapters/dynamodb/watermark-item.js';

/** Props of {@link Notices}. */
export interface NoticesProps {
  /** The sender identity: an email address or a domain. */
  readonly identity: string;
  /**
   * Name of the SES configuration set every notice is sent with. Without one CloudFormation names it,
   * so that a stack deployed again after `cdk destroy`, or a second stack in the account, never meets
   * a set of the same name.
   * @default a name CloudFormation generates
   */
  readonly configurationSetName?: string;
  /**
   * Also let the notifier send to these verified SES identities (addresses or domains). In the SES
   * sandbox SES authorises every recipient as an identity too, so a sandboxed account's notices need
   * the account owners' verified addresses here; out of the sandbox leave it empty.
   * @default none
   */
  readonly sandboxRecipients?: readonly string[];
  /**
   * What happens to the ledger when the stack is deleted: it is the record of what partners were told.
   * @default RemovalPolicy.RETAIN
   */
  readonly ledgerRemovalPolicy?: RemovalPolicy;
}

/** The CloudWatch dimension SES delivery metrics are published under (the configuration set's name). */
export const SES_METRIC_DIMENSION = 'ses:configuration-set';

/** The SES identity and configuration set, and the notice ledger. */
export class Notices extends Construct {
  readonly identity: ses.EmailIdentity;
  readonly identityName: string;
  readonly configurationSet: ses.ConfigurationSet;
  readonly configurationSetName: string;
  readonly ledger: dynamodb.Table;
  private readonly sandboxRecipients: readonly string[];

  constructor(scope: Construct, id: string, props: NoticesProps) {
    super(scope, id);
    const isEmail = props.identity.includes('@');
    if (!isEmail && !/^([a-z0-9-]+\.)+[a-z]{2,63}$/i.test(props.identity)) {
      throw new Error(`Notices: identity must be an email address or a domain name, got "${props.identity}"`);
    }
    if (
      props.configurationSetName !== undefined &&
      !/^[A-Za-z0-9_-]{1,64}$/.test(props.configurationSetName)
    ) {
      throw new Error(
        `Notices: configurationSetName must be 1-64 of A-Z a-z 0-9 _ -, got "${props.configurationSetName}"`,
      );
    }
    for (const r of props.sandboxRecipients ?? []) {
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(r) && !/^([a-z0-9-]+\.)+[a-z]{2,63}$/i.test(r)) {
        throw new Error(`Notices: sandboxRecipients must be email addresses or domains, got "${r}"`);
      }
    }
    this.sandboxRecipients = [...(props.sandboxRecipients ?? [])];
    this.identityName = props.identity;
    this.configurationSet = new ses.ConfigurationSet(this, 'ConfigurationSet', {
      ...(props.configurationSetName !== undefined
        ? { configurationSetName: props.configurationSetName }
        : {}),
      tlsPolicy: ses.ConfigurationSetTlsPolicy.REQUIRE,
      reputationMetrics: true,
      sendingEnabled: true,
      suppressionReasons: ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
    });
    this.configurationSet.addEventDestination('CloudWatch', {
      destination: ses.EventDestination.cloudWatchDimensions([
        {
          name: SES_METRIC_DIMENSION,
          source: ses.CloudWatchDimensionSource.MESSAGE_TAG,
          defaultValue: 'none',
        },
      ]),
      events: [
        ses.EmailSendingEvent.SEND,
        ses.EmailSendingEvent.DELIVERY,
        ses.EmailSendingEvent.BOUNCE,
        ses.EmailSendingEvent.COMPLAINT,
        ses.EmailSendingEvent.REJECT,
        ses.EmailSendingEvent.RENDERING_FAILURE,
        ses.EmailSendingEvent.DELIVERY_DELAY,
      ],
    });
    // The set's Ref is its name, generated or given.
    this.configurationSetName = this.configurationSet.configurationSetName;
    this.identity = new ses.EmailIdentity(this, 'Identity', {
      identity: isEmail ? ses.Identity.email(props.identity) : ses.Identity.domain(props.identity),
      configurationSet: this.configurationSet,
    });
    if (!isEmail) {
      // Easy DKIM: the three CNAME records to publish before SES verifies the domain.
      this.identity.dkimRecords.forEach((r, i) => {
        new CfnOutput(this, `DkimRecord${i + 1}`, {
          description: 'CNAME to publish in DNS to verify the sender domain',
          value: `${r.name} CNAME ${r.value}`,
        });
      });
    }
    this.ledger = new dynamodb.Table(this, 'Ledger', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: true,
      removalPolicy: props.ledgerRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    // A partner's entries for a period, by Query instead of a Scan of the whole table. partnerId and
    // periodId are on every item already, so adding the index to a deployed ledger covers its history.
    this.ledger.addGlobalSecondaryIndex({
      indexName: LEDGER_INDEX,
      partitionKey: { name: 'partnerId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'periodId', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });
  }

  /** ARN of the configuration set (SES authorises SendRawEmail on it as well as on the identity). */
  get configurationSetArn(): string {
    return Stack.of(this).formatArn({
      service: 'ses',
      resource: 'configuration-set',
      resourceName: this.configurationSetName,
    });
  }

  /**
   * SendRawEmail from this identity with this configuration set, and nothing else of SES. With
   * sandboxRecipients, also on those identities: in the sandbox SES checks the recipients as
   * identities of the sender's account too, and refuses the call without that permission.
   */
  grantSend(grantee: iam.IGrantable): void {
    const stack = Stack.of(this);
    const recipients = this.sandboxRecipients.map((r) =>
      stack.formatArn({ service: 'ses', resource: 'identity', resourceName: r }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ses:SendRawEmail'],
        resources: [this.identity.emailIdentityArn, this.configurationSetArn, ...recipients],
      }),
    );
  }

  /**
   * Claim, mark and release notices (conditional writes), and list a partner's entries for a period
   * (Query on the index, then a consistent BatchGetItem by key): no Scan.
   */
  grantLedger(grantee: iam.IGrantable): void {
    // Table.grant would add `<table>/index/*`; the one index the ledger reads is named instead.
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'dynamodb:GetItem',
          'dynamodb:BatchGetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
        ],
        resources: [this.ledger.tableArn],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${this.ledger.tableArn}/index/${LEDGER_INDEX}`],
      }),
    );
  }

  /**
   * Read (plan) or advance (evaluate) the rollup watermark: the one ledger item whose key is
   * WATERMARK_PK, by an IAM condition on the leading key, so neither step can touch a notice.
   */
  grantRollupWatermark(grantee: iam.IGrantable, access: 'read' | 'advance'): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: access === 'read' ? ['dynamodb:GetItem'] : ['dynamodb:UpdateItem'],
        resources: [this.ledger.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [WATERMARK_PK] } },
      }),
    );
  }
}
