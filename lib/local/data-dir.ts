/**
 * What the local mode keeps in DATA_DIR beside the embedded DynamoDB's files:
 * - a lock naming the server that uses the folder: LevelDB lets one process open it, and a second
 *   dynalite on it only dies with "Database is closed", which tells the user nothing;
 * - the generated postback token: a restart must not change the token the brand configured.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'local-server.lock';
export const TOKEN_FILE = 'postback-token';

interface Holder {
  pid: number;
  /** Linux: the process's start time (/proc), so a pid reused by another process is not taken for the holder. */
  startTime?: string;
  url?: string;
  since: string;
}

export class DataDirInUse extends Error {
  override name = 'DataDirInUse';
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; starttime is field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid is alive (EPERM: alive, owned by someone else). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(lockPath: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(lockPath, 'utf8')) as Partial<Holder>;
    return typeof h.pid === 'number' && Number.isInteger(h.pid) && h.pid > 0 ? { since: '?', ...h, pid: h.pid } : undefined;
  } catch {
    return undefined; // half-written or edited by hand: it proves nothing
  }
}

/** Whether the server that wrote the lock still runs (a killed one leaves its lock behind). */
function stillHolds(h: Holder): boolean {
  // Our own pid: an earlier run in a pid namespace that started over (a restarted container).
  if (h.pid === process.pid || !isRunning(h.pid)) return false;
  const now = startTimeOf(h.pid);
  return h.startTime === undefined || now === undefined || now === h.startTime;
}

export interface DataDirClaim {
  lockPath: string;
  /** Adds the server's URL to the lock, for the message a second server prints. */
  announce(url: string): void;
  /** Removes the lock if it is still ours (synchronous: also fine on the way out). */
  release(): void;
}

/** Takes DATA_DIR for this process, or throws {@link DataDirInUse} naming the process that has it. */
export function claimDataDir(dir: string): DataDirClaim {
  const lockPath = join(dir, LOCK_FILE);
  const startTime = startTimeOf(process.pid);
  const mine: Holder = { pid: process.pid, ...(startTime ? { startTime } : {}), since: new Date().toISOString() };
  const write = (h: Holder, flag: 'wx' | 'w') => writeFileSync(lockPath, `${JSON.stringify(h)}\n`, { flag });
  for (let attempt = 0; ; attempt++) {
    try {
      write(mine, 'wx');
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
    }
    const h = readHolder(lockPath);
    if (h && stillHolds(h)) {
      throw new DataDirInUse(
        `DATA_DIR ${dir} is in use by another local server: pid ${h.pid}${h.url ? ` at ${h.url}` : ''}, running since ${h.since}. ` +
          `Stop it (kill ${h.pid}) or set DATA_DIR to another folder. If pid ${h.pid} is not the tracker's local server, delete ${lockPath}.`,
      );
    }
    rmSync(lockPath, { force: true }); // left by a server that was killed: take over
  }
  return {
    lockPath,
    announce: (url) => {
      mine.url = url;
      write(mine, 'w');
    },
    release: () => {
      if (readHolder(lockPath)?.pid === process.pid) rmSync(lockPath, { force: true });
    },
  };
}

export interface KeptToken {
  token: string;
  path: string;
  /** True when this start generated it (false: read back from an earlier start). */
  created: boolean;
}

/**
 * The postback token kept in DATA_DIR (owner-only): `given` (POSTBACK_TOKEN) when there is one — it
 * is the brand's configured token, and a restart without the variable must keep accepting it —
 * else the one kept by an earlier start, else a new one.
 */
export function keptToken(dir: string, given?: string): KeptToken {
  const path = join(dir, TOKEN_FILE);
  if (given !== undefined) {
    writeFileSync(path, `${given}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    return { token: given, path, created: false };
  }
  try {
    const token = readFileSync(path, 'utf8').trim();
    if (token !== '') {
      chmodSync(path, 0o600);
      return { token, path, created: false };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(24).toString('base64url');
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  chmodSync(path, 0o600); // the mode above only applies to a new file (an empty one may exist)
  return { token, path, created: true };
}
