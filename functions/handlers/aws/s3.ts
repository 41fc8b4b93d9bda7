/** The S3 client of a handler, and the registry it reads from S3. */
import { createHash } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { readS3Text } from '../../adapters/s3/s3-read.js';
import { parseRegistry, type Registry } from '../../domain/registry.js';
import type { HandlerEnv } from '../env.js';

export function s3Client(env: Pick<HandlerEnv, 'AWS_ENDPOINT_URL_S3'>): S3Client {
  if (!env.AWS_ENDPOINT_URL_S3) return new S3Client({});
  // Local S3 stand-ins answer path-style only and mishandle streamed checksums.
  return new S3Client({
    endpoint: env.AWS_ENDPOINT_URL_S3,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export interface LoadedRegistry {
  readonly registry: Registry;
  /** SHA-256 of the registry text, for the report. */
  readonly hash: string;
  readonly source: string;
}

/**
 * The partner registry the stack deployed, validated. Read on every invocation (it is small), so
 * that a registry update applies to the next run without a cold start.
 */
export async function loadRegistry(
  client: S3Client,
  env: Pick<HandlerEnv, 'REGISTRY_BUCKET' | 'REGISTRY_KEY'>,
): Promise<LoadedRegistry> {
  const source = `s3://${env.REGISTRY_BUCKET}/${env.REGISTRY_KEY}`;
  const text = await readS3Text(client, env.REGISTRY_BUCKET, env.REGISTRY_KEY);
  return {
    registry: parseRegistry(text, source),
    hash: createHash('sha256').update(text).digest('hex'),
    source,
  };
}
