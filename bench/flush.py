"""
A change to Twisted proposed in docs/twisted-flush.md, applied at run time
for the benchmark only (servers "floor+flush" and "txws+flush" in
bench/servers.py): what a protocol writes while it handles a read is sent
when that read is handled, with one send() and no EPOLLOUT.

Twisted buffers every write and arms EPOLLOUT (an epoll_ctl), then sends
on the next reactor turn and disarms it (another epoll_ctl): three
syscalls and a reactor turn for a write that the socket would have taken
at once. Here a write made inside a TCP connection's doRead only buffers,
and doRead ends by sending what was buffered, as doWrite does; only what
the socket does not take waits for EPOLLOUT. Writes made anywhere else
(timers, another connection's read) go the usual way. Not for production:
it is the smallest version of the patch that shows its effect.
"""

from __future__ import annotations

from typing import Any

_reading: Any = None  # the connection whose read is being handled


def install() -> None:
    from twisted.internet import abstract, tcp

    bufferWrite = abstract.FileDescriptor.write
    bufferSequence = abstract.FileDescriptor.writeSequence
    read = tcp.Connection.doRead

    def write(self: Any, data: bytes) -> None:
        if _reading is not self:
            return bufferWrite(self, data)
        if not isinstance(data, bytes):
            raise TypeError(f"Data must be bytes, not {type(data).__name__}")
        if self.connected and not self._writeDisconnected and data:
            self._tempDataBuffer.append(data)
            self._tempDataLen += len(data)
            self._maybePauseProducer()
        return None

    def writeSequence(self: Any, sequence: Any) -> None:
        if _reading is not self:
            return bufferSequence(self, sequence)
        for data in sequence:
            write(self, data)
        return None

    def doRead(self: Any) -> Any:
        global _reading
        previous, _reading = _reading, self
        try:
            why = read(self)
        finally:
            _reading = previous
        if why is None and self._tempDataLen and self.connected:
            why = self.doWrite()
            if why is None and (self._tempDataLen or self.offset < len(self.dataBuffer)):
                self.startWriting()  # what the socket did not take waits for EPOLLOUT
        return why

    abstract.FileDescriptor.write = write  # type: ignore[method-assign]
    abstract.FileDescriptor.writeSequence = writeSequence  # type: ignore[method-assign]
    tcp.Connection.doRead = doRead  # type: ignore[method-assign]
