import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { cgroupCpuQuota } from '../../src/shared/machine-resources.js';

/** A cgroup file system laid out as the kernel and the container runtimes lay it out: files under a root. */
describe('cgroupCpuQuota', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(path.join(os.tmpdir(), 'cgroup-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const write = (file: string, text: string): void => {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  };

  it('cgroup v1 in a container (podman/docker --cpus 1.5): the quota of the cgroup mounted at the root, its own path not visible', () => {
    const own = '/libpod_parent/libpod-7c01';
    write('cpu/cpu.cfs_quota_us', '150000\n');
    write('cpu/cpu.cfs_period_us', '100000\n');
    expect(cgroupCpuQuota(root, `4:memory:${own}\n2:cpuacct:${own}\n1:cpu:${own}\n0::${own}\n`)).to.equal(1.5);
  });

  it('cgroup v1 on a host (systemd CPUQuota=50%): its own directory, under a cpu,cpuacct mount', () => {
    write('cpu,cpuacct/cpu.cfs_quota_us', '-1\n');
    write('cpu,cpuacct/cpu.cfs_period_us', '100000\n');
    write('cpu,cpuacct/system.slice/ocr.service/cpu.cfs_quota_us', '50000\n');
    write('cpu,cpuacct/system.slice/ocr.service/cpu.cfs_period_us', '100000\n');
    expect(cgroupCpuQuota(root, '3:cpu,cpuacct:/system.slice/ocr.service\n')).to.equal(0.5);
  });

  it('cgroup v2 in a cgroup namespace (--cpus 2): cpu.max at the root', () => {
    write('cpu.max', '200000 100000\n');
    expect(cgroupCpuQuota(root, '0::/\n')).to.equal(2);
  });

  it('cgroup v2 on a host: its own directory', () => {
    write('system.slice/ocr.service/cpu.max', '300000 100000\n');
    expect(cgroupCpuQuota(root, '0::/system.slice/ocr.service\n')).to.equal(3);
  });

  it('no quota ("max", -1), or nothing to read: undefined, and the cores of the machine count', () => {
    write('system.slice/ocr.service/cpu.max', 'max 100000\n');
    expect(cgroupCpuQuota(root, '0::/system.slice/ocr.service\n')).to.equal(undefined);
    write('cpu/cpu.cfs_quota_us', '-1\n');
    write('cpu/cpu.cfs_period_us', '100000\n');
    expect(cgroupCpuQuota(root, '1:cpu:/\n')).to.equal(undefined);
    expect(cgroupCpuQuota(path.join(root, 'absent'), '0::/\n1:cpu:/\n')).to.equal(undefined);
    expect(cgroupCpuQuota(root, undefined)).to.equal(undefined);
  });
});
