/**
 * The image of issue 15's burst of large uploads (the hostile-load test, bench:burst): JPEG noise,
 * which does not compress (3000×3000 at quality 100 is about 10 MB), padded with zeros after its
 * end to the size a call carries. It decodes to 3000×3000; the padding is only carried.
 */
import { loadSharp } from '../shared/load-sharp.js';

export interface BurstImage {
  /** The JPEG alone. */
  noise: Buffer;
  /** The JPEG padded to the requested size. */
  image: Buffer;
}

export async function burstImage(bytes: number): Promise<BurstImage> {
  const sharp = await loadSharp();
  const noise = await sharp({
    create: { width: 3000, height: 3000, channels: 3, background: '#888', noise: { type: 'gaussian', mean: 128, sigma: 60 } },
  })
    .jpeg({ quality: 100 })
    .toBuffer();
  return { noise, image: Buffer.concat([noise, Buffer.alloc(Math.max(0, bytes - noise.length))]) };
}
