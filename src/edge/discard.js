// Reads what is left of a request body and drops it, all in JavaScript: the bytes never
// cross into wasm, and one await per MiB (workerd's readAtLeast fills the buffer) keeps
// the cost of a 200 MiB body to a few hundred turns of the event loop.
export async function discardRest(reader) {
  let buffer = new Uint8Array(1 << 20);
  for (;;) {
    const { done, value } = reader.readAtLeast
      ? await reader.readAtLeast(buffer.byteLength, buffer)
      : await reader.read(buffer);
    if (done) return;
    // The read took the buffer over; its bytes come back in `value` for the next read.
    buffer = new Uint8Array(value.buffer);
  }
}
