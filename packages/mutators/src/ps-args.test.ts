import { describe, expect, it } from 'vitest';
import { checkPsArgs } from './ps-args.ts';

describe('checkPsArgs', () => {
  it.each([
    '',
    '-ef',
    'aux',
    'axo pid,args',
    'aux --sort=-%mem',
    '-ef --sort=+pid,-start_time',
    'auxe',
    '-eLf',
    '-ely',
    'axjf',
    '-o pid,comm',
    '-opid,user,args',
    '-eo pid,ppid,%cpu,%mem,cmd',
    'o pid,stat,time,command',
    '-O args',
    '-ef -o pid,lstart,args',
    'x -o user,pid,args',
  ])('allows %j', (args) => {
    expect(() => checkPsArgs(args)).not.toThrow();
  });

  it.each([
    // found by review, stop 22: a custom header moved PID onto another process's environment
    ['-ocomm=H\fH\fPID,args:4000 e -C httpd', /"comm=H\\fH\\fPID" is not one of the columns allowed/],
    ['-oargs=PID -p 1', /not one of the columns allowed/],
    ['-oargs,pid -p 1', /args may print several words, so it must come after pid/],
    ['-o comm,pid', /must come after pid/],
    ['-o lstart,pid', /must come after pid/],
    ['-ef -p 1', /"-p" is not one of the flags allowed/],
    ['-C httpd', /"-C" is not one of the flags/],
    ['aux h', /"h" is not one of the flags/],
    ['-ef --no-headers', /not one of the flags/],
    ['-eZ', /not one of the flags/],
    ['axm', /not one of the flags/],
    ['-o %p,%a', /"%p" is not one of the columns/],
    ['-o pid:20', /"pid:20" is not one of the columns/],
    ['-ef  -o pid', /"" is not one of the flags/],
    [' -ef', /"" is not one of the flags/],
    ['-ef\t', /not one of the flags/],
    ['-o', /-o needs a list of columns/],
    ['--sort=-pid=X', /"pid=X" is not one of the columns/],
    ['--sort=%p', /"%p" is not one of the columns/],
    ['--forest', /"--forest" is not one of the flags/],
  ])('refuses %j', (args, why) => {
    let err: unknown;
    try {
      checkPsArgs(args);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'DOCKHAND_HOST_ESCAPE', status: 403 });
    expect((err as Error).message).toMatch(why);
  });
});
