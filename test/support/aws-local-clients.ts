/**
 * Real AWS SDK clients pointed at the local stand-ins: fake credentials, a fixed region, an explicit
 * endpoint. Nothing here can reach AWS: every client gets a 127.0.0.1 endpoint.
 */
import { AthenaClient } from '@aws-sdk/client-athena';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SESClient } from '@aws-sdk/client-ses';

export const LOCAL_REGION = 'eu-central-1';
const FAKE = { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'local-secret' };

function local(endpoint: string): string {
  if (!/^http:\/\/127\.0\.0\.1:\d+\/?$/.test(endpoint)) throw new Error(`not a local endpoint: ${endpoint}`);
  return endpoint;
}

/** `maxAttempts: 1` so that the adapters' own retries are what the tests see. */
export function localAthenaClient(endpoint: string): AthenaClient {
  return new AthenaClient({
    endpoint: local(endpoint),
    region: LOCAL_REGION,
    credentials: FAKE,
    maxAttempts: 1,
  });
}

export function localSesClient(endpoint: string): SESClient {
  return new SESClient({
    endpoint: local(endpoint),
    region: LOCAL_REGION,
    credentials: FAKE,
    maxAttempts: 1,
  });
}

export function localDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: local(endpoint),
    region: LOCAL_REGION,
    credentials: FAKE,
    maxAttempts: 1,
  });
}

/** s3rver accepts only the S3RVER/S3RVER key pair, path-style addressing, and no streamed checksums. */
export function localS3Client(endpoint: string): S3Client {
  return new S3Client({
    endpoint: local(endpoint),
    region: LOCAL_REGION,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
}

/** Where the local Athena server's UNLOAD writes: s3rver, through the real S3 client. */
export function s3UnloadStore(client: S3Client): {
  list(bucket: string, prefix: string): Promise<readonly string[]>;
  put(bucket: string, key: string, body: Uint8Array): Promise<void>;
} {
  return {
    async list(bucket, prefix) {
      const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
      return (out.Contents ?? []).map((o) => o.Key ?? '');
    },
    async put(bucket, key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
  };
}
