/**
 * sharp's own words for a failure ("Input buffer has corrupt header"), without what libvips adds
 * after them. libvips keeps one error buffer for the whole process and sharp hands on whatever is in
 * it: the same fault once per pass over the header, lines of other images failing on other threads
 * meanwhile, or nothing, when another thread has just cleared it. Kept, the same corrupt image was
 * told three different things in one run, and a caller could read of another caller's image.
 */
export function sharpReason(err: Error): string {
  const reason = err.message.split(/\n|:\s*Vips/)[0]!.replace(/:\s*$/, '');
  // sharp's words where libvips' buffer was empty: they told a caller nothing of the file.
  return reason === 'Unknown error' || reason === '' ? 'its decoder stopped without saying why' : reason;
}
