import { expect } from 'chai';
import { bytesOf, SharedImagePool, type SharedImageLease } from '../../src/engine/runtime/shared-image-pool.js';
/** A blank image of the pool's, filled with `fill` as a worker would. */
async function filled(pool: SharedImagePool, width: number, height: number, fill: number): Promise<SharedImageLease> {
  const lease = await pool.blank(width, height, 1);
  new Uint8Array(lease.image.buffer, 0, width * height).fill(fill);
  return lease;
}

describe('SharedImagePool', () => {
  it('gives a blank image its size, in shared memory', async () => {
    const lease = await new SharedImagePool(1 << 30).blank(20, 10, 3);
    expect(lease.image).to.include({ width: 20, height: 10, channels: 3 });
    expect(lease.image.buffer).to.be.instanceOf(SharedArrayBuffer);
    expect(lease.image.buffer.byteLength).to.be.at.least(600);
  });

  it('holds an encoded file, alone, in pooled shared memory, and reuses it for the next file once released', async () => {
    const pool = new SharedImagePool(1 << 30);
    const first = await pool.forBytes(3);
    expect(first.image.buffer).to.be.instanceOf(SharedArrayBuffer);
    bytesOf(first).set([1, 2, 3]);
    expect([...bytesOf(first)]).to.deep.equal([1, 2, 3]);
    first.release();
    const second = await pool.forBytes(2);
    expect(second.image.buffer).to.equal(first.image.buffer);
    expect(bytesOf(second).length).to.equal(2);
  });

  it('takes a fresh buffer for a file or a blank image from its source only when none idle fits', async () => {
    const made: number[] = [];
    const pool = new SharedImagePool(1 << 30, (bytes) => {
      made.push(bytes);
      return Promise.resolve(new SharedArrayBuffer(bytes));
    });
    const blank = await pool.blank(300, 200, 3);
    expect(blank.image).to.include({ width: 300, height: 200, channels: 3 });
    const file = await pool.forBytes(100_000);
    expect(made).to.deep.equal([192 * 1024, 128 * 1024]);
    blank.release();
    expect((await pool.forBytes(150_000)).image.buffer).to.equal(blank.image.buffer);
    expect(made).to.have.length(2);
    file.release();
  });

  it('reuses a released buffer for an image of similar size, not for one much smaller', async () => {
    const pool = new SharedImagePool(1 << 30);
    const first = await filled(pool, 1200, 300, 1);
    const buffer = first.image.buffer;
    first.release();
    const second = await filled(pool, 1170, 300, 2);
    expect(second.image.buffer).to.equal(buffer);
    expect(new Uint8Array(second.image.buffer)[0]).to.equal(2);
    second.release();
    const tiny = await filled(pool, 120, 30, 3);
    expect(tiny.image.buffer).to.not.equal(buffer);
  });

  it('keeps a buffer out of the pool while any holder still reads it', async () => {
    const pool = new SharedImagePool(1 << 30);
    const lease = await filled(pool, 300, 100, 1);
    const taskDone = lease.hold();
    lease.release();
    // The request is over but a worker task still holds the pixels: a new image gets another buffer.
    const other = await filled(pool, 300, 100, 9);
    expect(other.image.buffer).to.not.equal(lease.image.buffer);
    expect(new Uint8Array(lease.image.buffer)[0]).to.equal(1);
    taskDone();
    taskDone(); // a second call changes nothing
    expect((await filled(pool, 300, 100, 5)).image.buffer).to.equal(lease.image.buffer);
  });

  it('refuses a new holder once the buffer went back to the pool', async () => {
    const lease = await new SharedImagePool(1 << 30).blank(10, 10, 1);
    lease.release();
    expect(() => lease.hold()).to.throw(/returned to the pool/);
  });

  it('keeps at most its limit of idle bytes, dropping the oldest', async () => {
    const pool = new SharedImagePool(300 * 1024);
    const leases = [await pool.blank(256, 128, 3), await pool.blank(256, 128, 3), await pool.blank(256, 128, 3)]; // 96 kB each, 128 kB buffers
    for (const l of leases) l.release();
    expect(pool.idleBufferBytes).to.equal(256 * 1024);
    const reused = [
      (await pool.blank(256, 128, 3)).image.buffer,
      (await pool.blank(256, 128, 3)).image.buffer,
      (await pool.blank(256, 128, 3)).image.buffer,
    ];
    // The oldest (the first released) was dropped; the two others come back, then a new one.
    expect(reused.slice(0, 2)).to.have.members([leases[1]!.image.buffer, leases[2]!.image.buffer]);
    expect(leases.map((l) => l.image.buffer)).to.not.include(reused[2]);
  });
});
