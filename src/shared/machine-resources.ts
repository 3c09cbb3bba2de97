/**
 * The memory and the cores this process may use: the machine's, or less where its cgroup limits them
 * (a container's --memory and --cpus, systemd's MemoryMax= and CPUQuota=). The defaults that follow the
 * machine (workers, memory budget, the gateway's body memory) read these, not the host's totals, so
 * that `docker run --memory 2g --cpus 1` on a large host gets one worker and a budget within 2 GiB
 * rather than one worker per host core and the host's eighth, which the kernel would end in an OOM kill.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Bytes of memory: the machine's, or the cgroup's limit where lower (Node asks libuv, which reads cgroup v1 and v2). */
export function machineMemoryBytes(): number {
  const constrained = process.constrainedMemory();
  // 0: unknown; no limit reads as a number far above the machine's memory.
  return constrained > 0 ? Math.min(os.totalmem(), constrained) : os.totalmem();
}

/** Cores: those the scheduler lets this process run on, or fewer where a CPU quota grants less (never below 1). */
export function machineCores(): number {
  const quota = cgroupCpuQuota();
  const cores = Math.max(1, os.availableParallelism());
  return quota === undefined ? cores : Math.max(1, Math.min(cores, Math.floor(quota)));
}

/**
 * The cores a CFS quota grants (1.5 for --cpus 1.5), or undefined where none is set or none can be read.
 * Node 20's availableParallelism counts only the CPUs of the affinity mask, not the quota. The quota is
 * read from the process's own cgroup directory where it is visible, else from the mount's root, which is
 * the container's own cgroup when the runtime mounts it there (cgroup v1 without a cgroup namespace).
 */
export function cgroupCpuQuota(root = CGROUP_ROOT, selfCgroup = readOrUndefined('/proc/self/cgroup')): number | undefined {
  for (const line of (selfCgroup ?? '').split('\n')) {
    const [, controllers, own] = line.split(':', 3);
    if (controllers === undefined || own === undefined) continue;
    const quota =
      controllers === ''
        ? v2Quota([path.join(root, own), root])
        : controllers.split(',').includes('cpu')
          ? v1Quota([path.join(root, controllers, own), path.join(root, controllers)])
          : undefined;
    if (quota !== undefined) return quota;
  }
  return undefined;
}

/** The first of these directories (the cgroup's own, then the mount's root) whose cpu.max sets a quota. */
function v2Quota(dirs: string[]): number | undefined {
  return firstDefined(dirs, (dir) => coresOfCpuMax(readOrUndefined(path.join(dir, 'cpu.max'))));
}

function v1Quota(dirs: string[]): number | undefined {
  return firstDefined(dirs, (dir) =>
    coresOfCfsQuota(readOrUndefined(path.join(dir, 'cpu.cfs_quota_us')), readOrUndefined(path.join(dir, 'cpu.cfs_period_us'))),
  );
}

/** cgroup v2's cpu.max, "QUOTA PERIOD" in µs ("max 100000": no quota). */
function coresOfCpuMax(text: string | undefined): number | undefined {
  const [quota, period] = (text ?? '').trim().split(/\s+/);
  return quotaOverPeriod(quota, period);
}

/** cgroup v1's cpu.cfs_quota_us (-1: no quota) and cpu.cfs_period_us. */
function coresOfCfsQuota(quota: string | undefined, period: string | undefined): number | undefined {
  return quotaOverPeriod(quota?.trim(), period?.trim());
}

function quotaOverPeriod(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota);
  const p = Number(period);
  return quota && period && Number.isFinite(q) && q > 0 && p > 0 ? q / p : undefined;
}

/** The first directory whose files give an answer; a directory that does not exist gives none. */
function firstDefined(dirs: string[], read: (dir: string) => number | undefined): number | undefined {
  for (const dir of dirs) {
    const value = read(dir);
    if (value !== undefined) return value;
  }
  return undefined;
}

function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
