"""The HTTP server's own limit on request heads, which uvicorn's httptools protocol lacks.

uvicorn bounds a request head only with its pure-Python h11 protocol; with httptools (the
C parser, and what `uvicorn[standard]` runs) a 50 MB header was read and answered 200.
Switching to h11 would give up the faster parser on every request, so this subclass
keeps httptools and counts the bytes of each request head as they arrive: the head is
fed to the parser in pieces no larger than what is left of the limit, and a head still
incomplete at the limit is answered 431 and the connection closed, before more of it is
buffered. tests/e2e/test_serve.py sends an oversized head to the real server.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from parcelflow.settings import get_settings

_REFUSAL = (b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/problem+json\r\nconnection: close\r\n")
_BODY = (b'{"type":"https://parcelflow.dev/problems/headers-too-large",'
         b'"title":"Request header fields too large","status":431}')


class BoundedHeadProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._limit = get_settings().api_max_header_bytes
        self._head = 0  # bytes of the current request's head so far
        self._in_head = True

    def data_received(self, data: bytes) -> None:
        while data and self._in_head:
            room = self._limit - self._head
            if room <= 0:
                self._refuse()
                return
            piece, data = data[:room], data[room:]
            self._head += len(piece)
            super().data_received(piece)
            if self.transport.is_closing():
                return
        if data:
            super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head = True, 0

    def _refuse(self) -> None:
        self.logger.info("request head over %d bytes refused", self._limit)
        self.transport.write(_REFUSAL + b"content-length: " + str(len(_BODY)).encode()
                             + b"\r\n\r\n" + _BODY)
        self.transport.close()
