"""A TCP proxy that puts a server at a distance: every connection waits one round trip
before its first byte (the TCP handshake), and every piece of data in either direction
arrives half a round trip after it was sent. Pieces keep flowing while earlier ones are
in flight, so the delay adds latency, not a bandwidth limit (the kernel here has no
`netem`). TLS passes through untouched: its handshake pays the distance as it would.

Its event loop waits on select(2), whose timeout is counted in microseconds: epoll's is
counted in whole milliseconds, rounded up, which made every 5 ms round trip about 6.2 ms
and a new connection's first exchange 2.4 ms late (`overshoot()` measures it). select
takes descriptors below 1,024 only, far more than a bench opens; a larger one fails loudly.

    python3 bench/delay_proxy.py LISTEN_PORT TARGET_HOST:TARGET_PORT RTT_MS

or `DelayProxy(target, rtt_ms).start()` in a thread of the bench."""
import asyncio
import selectors
import socket
import statistics
import sys
import threading
import time

PIECE = 256 * 1024


async def _pipe(reader, writer, delay_s, not_before):
    """Copies reader to writer, each piece released `delay_s` after it was read, or after it
    could first have been sent (`not_before`, monotonic), if that is later."""
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    sender = asyncio.ensure_future(deliver())
    try:
        while data := await reader.read(PIECE):
            queue.put_nowait((max(time.monotonic(), not_before) + delay_s, data))
            # Back-pressure: never hold more than a few MiB in flight per direction.
            while queue.qsize() > 64:
                await asyncio.sleep(0.001)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        queue.put_nowait((max(time.monotonic(), not_before) + delay_s, None))
    try:
        await sender
    except (ConnectionError, OSError):
        pass


def new_loop():
    """An event loop whose timers fire within a fraction of a millisecond (see above)."""
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


class DelayProxy:
    """Listens on a free loopback port and forwards to `target` ("host:port")."""

    def __init__(self, target, rtt_ms, port=0):
        self.target_host, target_port = target.rsplit(":", 1)
        self.target_port = int(target_port)
        self.rtt_s = rtt_ms / 1000
        self.port = port
        self.loop = None
        self.ready = threading.Event()

    async def _serve_one(self, client_reader, client_writer):
        # The SYN reaches the server half a round trip after the client sent it; the client's
        # first byte can leave once the SYN-ACK is back, a round trip after. The proxy opens
        # its own connection meanwhile, so that its work on it adds nothing to the model.
        accepted = time.monotonic()
        try:
            server_reader, server_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_writer.close()
            return
        for w in (client_writer, server_writer):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        half = self.rtt_s / 2
        await asyncio.gather(_pipe(client_reader, server_writer, half, accepted + self.rtt_s),
                             _pipe(server_reader, client_writer, half, accepted + half))
        for w in (client_writer, server_writer):
            w.close()

    async def _main(self):
        server = await asyncio.start_server(self._serve_one, "127.0.0.1", self.port, backlog=512)
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        async with server:
            await server.serve_forever()

    def start(self):
        """Runs the proxy in a daemon thread; returns its port."""
        def run():
            self.loop = new_loop()
            self.loop.run_until_complete(self._main())
        threading.Thread(target=run, daemon=True).start()
        self.ready.wait(10)
        return self.port


def overshoot(rtt_ms, connections=10, exchanges=10):
    """How late the proxy at `rtt_ms` delivers, in ms over the model: medians of a new
    connection's first exchange (ideal: two round trips, the connection's and the byte's)
    and of one-byte exchanges on an open connection (ideal: one round trip), against a
    local echo server."""
    server = socket.create_server(("127.0.0.1", 0))

    def echo():
        while True:
            conn, _ = server.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=lambda c=conn: [c.sendall(d) for d in iter(lambda: c.recv(65536), b"")],
                             daemon=True).start()
    threading.Thread(target=echo, daemon=True).start()
    port = DelayProxy(f"127.0.0.1:{server.getsockname()[1]}", rtt_ms).start()
    first, then = [], []
    for _ in range(connections):
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(b"x")
            s.recv(1)
            first.append((time.perf_counter() - started) * 1000 - 2 * rtt_ms)
            for _ in range(exchanges):
                started = time.perf_counter()
                s.sendall(b"x")
                s.recv(1)
                then.append((time.perf_counter() - started) * 1000 - rtt_ms)
    return {"new_connection_ms": round(statistics.median(first), 2), "round_trip_ms": round(statistics.median(then), 2)}


if __name__ == "__main__":
    listen, target, rtt = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    new_loop().run_until_complete(DelayProxy(target, rtt, listen)._main())
