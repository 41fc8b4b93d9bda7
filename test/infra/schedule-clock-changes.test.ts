import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { NightlySchedule, scheduleClockNotes } from '../../lib/constructs/schedule.js';
import { FEATURE_FLAGS } from '../../lib/partner-audit-stack.js';

function scheduleIn(cron: string, timeZone: string) {
  const stack = new Stack(new App({ context: { ...FEATURE_FLAGS } }), 'S');
  const stateMachine = new sfn.StateMachine(stack, 'M', {
    definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'P')),
  });
  new NightlySchedule(stack, 'Nightly', { stateMachine, cron, timeZone, clockCheckYear: 2026 });
  return Annotations.fromStack(stack);
}

describe('NightlySchedule at synth', () => {
  it('warns that the example schedule (02:30 Europe/Berlin) does not run on the spring-forward night', () => {
    const annotations = scheduleIn('30 2 * * ? *', 'Europe/Berlin');
    annotations.hasWarning(
      '/S/Nightly',
      Match.stringLikeRegexp(
        '02:30 on 2026-03-29 \\(the clock jumps from 02:00 to 03:00\\) does not exist.*rollup watermark',
      ),
    );
    annotations.hasInfo(
      '/S/Nightly',
      Match.stringLikeRegexp(
        '02:30 on 2026-10-25 \\(the clock goes back from 03:00 to 02:00\\) occurs twice',
      ),
    );
  });

  it('says nothing of a schedule clear of the clock changes, or in a zone without them', () => {
    for (const [cron, zone] of [
      ['30 3 * * ? *', 'Europe/Berlin'],
      ['30 2 * * ? *', 'UTC'],
      ['0 2 * * ? *', 'Asia/Kolkata'],
    ] as const) {
      const annotations = scheduleIn(cron, zone);
      annotations.hasNoWarning('*', Match.anyValue());
      annotations.hasNoInfo('/S/Nightly', Match.anyValue());
    }
  });
});

describe('scheduleClockNotes', () => {
  it.each([
    // Southern hemisphere, +13:45: 02:45 jumps to 03:45 in September, 03:45 goes back to 02:45 in April.
    ['0 3 * * ? *', 'Pacific/Chatham', ['03:00 on 2026-09-27'], ['03:00 on 2026-04-05']],
    // Midnight itself is skipped in Santiago in September.
    ['30 0 * * ? *', 'America/Santiago', ['00:30 on 2026-09-06'], []],
    // A half-hour change (Lord Howe): 02:00 to 02:30.
    ['15 2 * * ? *', 'Australia/Lord_Howe', ['02:15 on 2026-10-04'], []],
    // Several times a night: only those in the gap are named.
    ['0,30 1-3 * * ? *', 'America/New_York', ['02:00, 02:30 on 2026-03-08'], ['01:00, 01:30 on 2026-11-01']],
    ['0 */6 * * ? *', 'Europe/Berlin', [], []],
  ])('%s in %s', (cron, zone, skipped, repeated) => {
    const notes = scheduleClockNotes(cron, zone, 2026);
    expect(notes.skipped.map((s) => s.replace(/ \(.*\)$/, ''))).toEqual(skipped);
    expect(notes.repeated.map((s) => s.replace(/ \(.*\)$/, ''))).toEqual(repeated);
  });
});
