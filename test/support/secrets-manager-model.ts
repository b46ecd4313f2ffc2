/**
 * A small in-memory model of one Secrets Manager secret — its versions and their staging labels —
 * answering GetSecretValue, DescribeSecret, PutSecretValue, UpdateSecretVersionStage and
 * ListSecretVersionIds through aws-sdk-client-mock, so tests can run realistic rotation sequences
 * rather than canned answers. The label rules follow the API reference:
 * - a label is attached to one version at a time;
 * - PutSecretValue attaches AWSCURRENT unless told otherwise; whenever AWSCURRENT moves (there or in
 *   UpdateSecretVersionStage), AWSPREVIOUS moves to the version AWSCURRENT left;
 * - UpdateSecretVersionStage fails unless RemoveFromVersionId names the version the label is on
 *   (when it is on another one); AWSCURRENT can be moved, not removed;
 * - a version without labels is deprecated: ListSecretVersionIds leaves it out by default, and
 *   DescribeSecret's VersionIdsToStages always;
 * - GetSecretValue for a label no version carries is a ResourceNotFoundException.
 */
import { randomUUID } from 'node:crypto';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidParameterException,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  UpdateSecretVersionStageCommand,
  type DescribeSecretRequest,
  type DescribeSecretResponse,
  type GetSecretValueRequest,
  type GetSecretValueResponse,
  type ListSecretVersionIdsRequest,
  type ListSecretVersionIdsResponse,
  type PutSecretValueRequest,
  type PutSecretValueResponse,
  type SecretsManagerClient,
  type UpdateSecretVersionStageRequest,
  type UpdateSecretVersionStageResponse,
} from '@aws-sdk/client-secrets-manager';
import type { AwsClientStub } from 'aws-sdk-client-mock';

interface Version {
  value: string;
  stages: Set<string>;
  created: Date;
}

const meta = { $metadata: {} };
const notFound = (message: string) => new ResourceNotFoundException({ message, ...meta });
const invalid = (message: string) => new InvalidParameterException({ message, ...meta });

export class SecretsManagerModel {
  readonly name: string;
  private readonly versions = new Map<string, Version>();
  /** Every GetSecretValue answered (or refused), in order, with the model time. */
  readonly reads: { stage: string | undefined; versionId: string | undefined; at: number }[] = [];
  /** Every DescribeSecret answered (or refused), with the model time. */
  readonly describes: { at: number }[] = [];
  /** GetSecretValue and DescribeSecret calls being answered right now (with `latencyMs`) and the most seen at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** How long GetSecretValue and DescribeSecret take (on the test's timers, fake or real). */
  latencyMs = 0;

  constructor(
    readonly arn: string,
    initialValue: string,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.name = arn.split(':').pop() ?? arn;
    this.versions.set(randomUUID(), { value: initialValue, stages: new Set(['AWSCURRENT']), created: new Date(this.now()) });
  }

  /** Answers the mocked client's Secrets Manager calls from this model. */
  install(sm: AwsClientStub<SecretsManagerClient>): this {
    sm.on(GetSecretValueCommand).callsFake((input: GetSecretValueRequest) => this.getSecretValue(input));
    sm.on(DescribeSecretCommand).callsFake((input: DescribeSecretRequest) => this.describeSecret(input));
    sm.on(PutSecretValueCommand).callsFake(async (input: PutSecretValueRequest) => this.putSecretValue(input));
    sm.on(UpdateSecretVersionStageCommand).callsFake(async (input: UpdateSecretVersionStageRequest) =>
      this.updateSecretVersionStage(input),
    );
    sm.on(ListSecretVersionIdsCommand).callsFake(async (input: ListSecretVersionIdsRequest) => this.listSecretVersionIds(input));
    return this;
  }

  /** The value carrying `stage`, if any. */
  valueAt(stage: string): string | undefined {
    return this.holder(stage)?.[1].value;
  }

  /** The labels of the versions whose value is `value` (none: the value is not, or no longer, labelled). */
  stagesOf(value: string): string[] {
    return [...this.versions.values()]
      .filter((v) => v.value === value)
      .flatMap((v) => [...v.stages])
      .sort();
  }

  async getSecretValue(input: GetSecretValueRequest): Promise<GetSecretValueResponse> {
    this.check(input.SecretId);
    // Served from the secret as it is when the call arrives; `latencyMs` only delays the reply, so a
    // read in flight across a rotation answers with the old state (the worst case for callers).
    this.reads.push({ stage: input.VersionStage, versionId: input.VersionId, at: this.now() });
    const stage = input.VersionStage ?? (input.VersionId ? undefined : 'AWSCURRENT');
    const [id, v] = (input.VersionId ? this.version(input.VersionId) : this.holder(stage!)) ?? [];
    const answer: GetSecretValueResponse | Error =
      !id || !v || (stage && !v.stages.has(stage))
        ? notFound(
            `Secrets Manager can't find the specified secret value for ${stage ? `staging label: ${stage}` : `VersionId: ${input.VersionId}`}`,
          )
        : {
            ARN: this.arn,
            Name: this.name,
            VersionId: id,
            SecretString: v.value,
            VersionStages: [...v.stages],
            CreatedDate: v.created,
            ...meta,
          };
    return this.afterLatency(answer);
  }

  /** The labelled versions' ids and labels, as they are when the call arrives; never a value. */
  async describeSecret(input: DescribeSecretRequest): Promise<DescribeSecretResponse> {
    this.check(input.SecretId);
    this.describes.push({ at: this.now() });
    const labelled = [...this.versions.entries()].filter(([, v]) => v.stages.size > 0);
    return this.afterLatency({
      ARN: this.arn,
      Name: this.name,
      VersionIdsToStages: Object.fromEntries(labelled.map(([id, v]) => [id, [...v.stages]])),
      ...meta,
    });
  }

  /** Answers (or throws) `answer` once `latencyMs` has passed, counting the calls in flight meanwhile. */
  private async afterLatency<T>(answer: T | Error): Promise<T> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    } finally {
      this.inFlight -= 1;
    }
    if (answer instanceof Error) throw answer;
    return answer;
  }

  putSecretValue(input: PutSecretValueRequest): PutSecretValueResponse {
    this.check(input.SecretId);
    if (input.SecretString === undefined) throw invalid('SecretString is required here');
    const id = input.ClientRequestToken ?? randomUUID();
    const existing = this.versions.get(id);
    if (existing) {
      if (existing.value !== input.SecretString)
        throw new ResourceExistsException({ message: `a version with VersionId ${id} already exists`, ...meta });
      return { ARN: this.arn, Name: this.name, VersionId: id, VersionStages: [...existing.stages], ...meta };
    }
    this.versions.set(id, { value: input.SecretString, stages: new Set(), created: new Date(this.now()) });
    for (const stage of input.VersionStages ?? ['AWSCURRENT']) this.attach(stage, id);
    return { ARN: this.arn, Name: this.name, VersionId: id, VersionStages: [...this.versions.get(id)!.stages], ...meta };
  }

  updateSecretVersionStage(input: UpdateSecretVersionStageRequest): UpdateSecretVersionStageResponse {
    this.check(input.SecretId);
    const stage = input.VersionStage;
    if (!stage) throw invalid('VersionStage is required');
    const [holderId] = this.holder(stage) ?? [];
    if (input.MoveToVersionId !== undefined) {
      if (!this.versions.has(input.MoveToVersionId)) throw notFound(`no version ${input.MoveToVersionId}`);
      if (holderId && holderId !== input.MoveToVersionId && input.RemoveFromVersionId !== holderId) {
        throw invalid(`the staging label ${stage} is attached to version ${holderId}: name it in RemoveFromVersionId`);
      }
      this.attach(stage, input.MoveToVersionId);
    } else {
      if (input.RemoveFromVersionId === undefined || input.RemoveFromVersionId !== holderId) {
        throw invalid(`the staging label ${stage} is not attached to version ${input.RemoveFromVersionId ?? '(none given)'}`);
      }
      if (stage === 'AWSCURRENT') throw invalid('AWSCURRENT can be moved to another version, not removed');
      this.versions.get(holderId)!.stages.delete(stage);
    }
    return { ARN: this.arn, Name: this.name, ...meta };
  }

  listSecretVersionIds(input: ListSecretVersionIdsRequest): ListSecretVersionIdsResponse {
    this.check(input.SecretId);
    const versions = [...this.versions.entries()]
      .filter(([, v]) => input.IncludeDeprecated || v.stages.size > 0)
      .map(([id, v]) => ({ VersionId: id, VersionStages: [...v.stages], CreatedDate: v.created }));
    return { ARN: this.arn, Name: this.name, Versions: versions, ...meta };
  }

  /** Moves `stage` onto version `id`; moving AWSCURRENT drags AWSPREVIOUS to the version it left. */
  private attach(stage: string, id: string): void {
    const [fromId, from] = this.holder(stage) ?? [];
    if (fromId === id) return;
    from?.stages.delete(stage);
    this.versions.get(id)!.stages.add(stage);
    if (stage === 'AWSCURRENT' && fromId) this.attach('AWSPREVIOUS', fromId);
  }

  private holder(stage: string): [string, Version] | undefined {
    return [...this.versions.entries()].find(([, v]) => v.stages.has(stage));
  }

  private version(id: string): [string, Version] | undefined {
    const v = this.versions.get(id);
    return v && [id, v];
  }

  private check(secretId: string | undefined): void {
    if (secretId !== this.arn && secretId !== this.name)
      throw notFound(`Secrets Manager can't find the specified secret ${secretId ?? ''}`);
  }
}
