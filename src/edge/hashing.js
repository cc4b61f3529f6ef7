// Native SHA-256/SHA-512 through workerd's crypto.DigestStream: about four times the speed
// of hashing in wasm, on the same thread.
const NAMES = { sha256: "SHA-256", sha512: "SHA-512" };

export function digestStart(algorithm) {
  const stream = new crypto.DigestStream(NAMES[algorithm]);
  return { stream, writer: stream.getWriter() };
}

// `bytes` is a view of wasm memory, reused once this returns: the stream gets a copy.
export function digestUpdate(hasher, bytes) {
  return hasher.writer.write(bytes.slice());
}

export async function digestFinish(hasher) {
  await hasher.writer.close();
  return new Uint8Array(await hasher.stream.digest);
}

// Hashes a whole stream (a stored object) without its bytes entering wasm.
export async function digestOf(algorithm, readable) {
  const stream = new crypto.DigestStream(NAMES[algorithm]);
  await readable.pipeTo(stream);
  return new Uint8Array(await stream.digest);
}
