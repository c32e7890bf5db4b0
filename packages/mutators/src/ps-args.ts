import { refuse } from './errors.ts';

/** UNIX-style flags (`-ef`) that take no argument and keep the `PID` column where `ps` puts it. */
const UNIX_FLAGS = 'AadefFHjlLTcwy';
/** BSD-style flags (`aux`) that take no argument and keep the `PID` column where `ps` puts it. */
const BSD_FLAGS = 'auxefjlsvwrScnHT';
const FLAGS = new RegExp(`^(?:-[${UNIX_FLAGS}]+|[${BSD_FLAGS}]+)$`);
/**
 * The options that take a list of output columns, after flags of their style: `-o pid,comm`, `-eo pid`, `axo pid`,
 * `-O comm` (which puts `pid` first).
 */
const FORMAT_OPTION = new RegExp(`^(?:(-)[${UNIX_FLAGS}]*|[${BSD_FLAGS}]*)([oO])(.*)$`);

/**
 * Output columns that print one word for every process: before `pid`, they keep the engine's split of each line
 * into columns in step with the header.
 */
// biome-ignore format: a word list
const ONE_WORD = new Set([
  'pid', 'ppid', 'pgid', 'pgrp', 'sid', 'sess', 'tgid', 'lwp', 'tid', 'spid', 'nlwp', 'thcount', 'uid', 'euid',
  'ruid', 'suid', 'fuid', 'user', 'euser', 'ruser', 'suser', 'fuser', 'uname', 'gid', 'egid', 'rgid', 'group',
  'egroup', 'rgroup', 'tty', 'tname', 'tt', 'stat', 's', 'state', '%cpu', 'pcpu', 'c', 'cp', '%mem', 'pmem', 'vsz',
  'vsize', 'rss', 'rssize', 'rsz', 'sz', 'ni', 'nice', 'pri', 'priority', 'psr', 'rtprio', 'cls', 'class', 'policy',
  'time', 'cputime', 'cputimes', 'etime', 'etimes', 'f', 'flag', 'flags', 'wchan', 'nwchan', 'maj_flt', 'min_flt',
  'majflt', 'minflt', 'trs', 'drs', 'size', 'pending', 'blocked', 'ignored', 'caught',
]);
/** Output columns that may print several words (or any bytes a process chose): allowed after `pid` only. */
// biome-ignore format: a word list
const MANY_WORDS = new Set(['args', 'cmd', 'command', 'comm', 'ucmd', 'ucomm', 'lstart', 'start', 'stime', 'bsdstart', 'start_time']);

/**
 * Checks the `ps` arguments of `GET /containers/{id}/top?ps_args=`, which the engine runs as `ps` on the host, as
 * root. The engine asks `ps` for the container's processes only (`-q <pids>`); where `ps` refuses that with the
 * arguments given (a selection of its own, `-p 1`, `-C httpd`), it lists every process of the host and keeps the
 * rows whose `PID` column is one of the container's. That filter holds only while each row splits into columns in
 * step with the header: a custom header (`-ocomm=H\fH\fPID`), a column of several words before `PID`
 * (`-o args,pid`) or a format without a header moved `PID` onto another process's command line and environment,
 * which came back, a word at a time, in the engine's `Unexpected pid '<word>'` (found by review, stop 22: another
 * tenant's `DB_PASSWORD`).
 *
 * Allowed: flag clusters that take no argument (`-ef`, `aux`, `-eLf`, `auxe`), the column lists of `-o`, `o` and
 * `-O` (`-o pid,comm`, `-eo pid,user,args`) from a fixed set, where only one-word columns come before `pid`, and
 * `--sort=` over those columns. Refused: selections (`-p`, `-C`, `-u`, ...), headers (`=`), widths (`:`), other
 * long options, AIX formats (`%p`), no header (`h`), security labels (`Z`), and any other byte.
 *
 * @param psArgs - the query's `ps_args`, as the engine splits it (on each space)
 * @throws `DockhandError` `DOCKHAND_HOST_ESCAPE` (403) naming what is not allowed
 * @example
 * ```ts
 * checkPsArgs('-eo pid,user,args'); // passes
 * checkPsArgs('-o args,pid -p 1'); // throws
 * ```
 */
export function checkPsArgs(psArgs: string): void {
  if (psArgs === '') return;
  const tokens = psArgs.split(' ');
  const refused = (why: string) =>
    refuse(
      'DOCKHAND_HOST_ESCAPE',
      `ps arguments ${JSON.stringify(psArgs)} are not allowed here: ${why}; use flags such as -ef or aux, or -o with columns where pid comes before any command or start time`,
    );
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (FLAGS.test(token)) continue;
    // `--sort=-%mem,pid`: the order of the rows, whose columns stay as they are
    if (token.startsWith('--sort=')) {
      for (const key of token.slice('--sort='.length).split(',')) {
        const column = key.replace(/^[+-]/, '');
        if (!ONE_WORD.has(column) && !MANY_WORDS.has(column))
          throw refused(`${JSON.stringify(column)} is not one of the columns allowed`);
      }
      continue;
    }
    const format = FORMAT_OPTION.exec(token);
    if (format === null) throw refused(`${JSON.stringify(token)} is not one of the flags allowed`);
    const [, dash = '', option, attached] = format;
    // `-o pid,comm` or `-opid,comm`
    const list = attached === '' ? tokens[++i] : attached;
    if (list === undefined) throw refused(`${dash}${option} needs a list of columns`);
    let beforePid = !(dash === '-' && option === 'O'); // -O puts pid first
    for (const column of list.split(',')) {
      if (ONE_WORD.has(column)) {
        if (column === 'pid') beforePid = false;
        continue;
      }
      if (!MANY_WORDS.has(column))
        throw refused(`${JSON.stringify(column)} is not one of the columns allowed`);
      if (beforePid) throw refused(`${column} may print several words, so it must come after pid`);
    }
  }
}
