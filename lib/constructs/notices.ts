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
import { WATERMARK_PK } from '../../functions/adapters/dynamodb/dynamodb-watermark.js';

/** Props of {@link Notices}. */
export interface NoticesProps {
  /** The sender identity: an email address or a domain. */
  readonly identity: string;
  /** Name of the SES configuration set every notice is sent with. */
  readonly configurationSetName: string;
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

  constructor(scope: Construct, id: string, props: NoticesProps) {
    super(scope, id);
    const isEmail = props.identity.includes('@');
    if (!isEmail && !/^([a-z0-9-]+\.)+[a-z]{2,63}$/i.test(props.identity)) {
      throw new Error(`Notices: identity must be an email address or a domain name, got "${props.identity}"`);
    }
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(props.configurationSetName)) {
      throw new Error(
        `Notices: configurationSetName must be 1-64 of A-Z a-z 0-9 _ -, got "${props.configurationSetName}"`,
      );
    }
    this.identityName = props.identity;
    this.configurationSetName = props.configurationSetName;
    this.configurationSet = new ses.ConfigurationSet(this, 'ConfigurationSet', {
      configurationSetName: props.configurationSetName,
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
  }

  /** ARN of the configuration set (SES authorises SendRawEmail on it as well as on the identity). */
  get configurationSetArn(): string {
    return Stack.of(this).formatArn({
      service: 'ses',
      resource: 'configuration-set',
      resourceName: this.configurationSetName,
    });
  }

  /** SendRawEmail from this identity with this configuration set, and nothing else of SES. */
  grantSend(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ses:SendRawEmail'],
        resources: [this.identity.emailIdentityArn, this.configurationSetArn],
      }),
    );
  }

  /**
   * Claim, mark and release notices (conditional writes) and list a partner's entries for a period.
   * The table has only a partition key, so listing is a filtered Scan of this one small table.
   */
  grantLedger(grantee: iam.IGrantable): void {
    this.ledger.grant(
      grantee,
      'dynamodb:GetItem',
      'dynamodb:Scan',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
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
