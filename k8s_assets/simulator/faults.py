"""Faults a simulated cluster can inject into the responses it serves.

A fault is declared by tests (``cluster.inject(Fault("forbidden", resource="pods"))``)
and matched by the server against each request: which resource it lists or reads, and
which page of a paginated list it is. Each kind reproduces what a real kube-apiserver
(or the network in front of it) does, in the exact wire shape clients must handle.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

FAULT_KINDS = frozenset(
    {
        "forbidden",  # 403 Status, RBAC denial
        "throttle_text",  # 429 text/plain from API priority and fairness, with Retry-After
        "throttle_status",  # 429 Status TooManyRequests with details.retryAfterSeconds
        "internal_error",  # 500 Status InternalError
        "expired",  # 410 Status Expired with an inconsistent continue token in metadata.continue
        "slow",  # answers normally after `delay` seconds, or when the test releases it
        "cut",  # headers and half the body, then the connection is closed
        "unresponsive",  # reads the request, never answers until the client gives up
    }
)


@dataclass(eq=False)
class Fault:
    """One injected fault.

    ``resource`` is a resource key ("pods", "deployments.apps"); ``None`` means every list
    request of any resource. ``page`` is the 1-based page of a list request where the fault
    fires; ``None`` means any request. ``times`` is how often it fires before it
    disappears; ``None`` means forever.
    """

    kind: str
    resource: str | None = None
    page: int | None = None
    times: int | None = None
    retry_after: int = 1
    delay: float = 0.0
    fired: int = field(default=0, init=False)
    held: int = field(default=0, init=False)
    _holding: threading.Condition = field(default_factory=threading.Condition, init=False, repr=False)
    _released: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if self.page is not None and self.page < 1:
            raise ValueError("page is 1-based")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1 (None means forever)")

    def hold(self) -> None:
        """Hold a response (the server's thread): ``delay`` seconds, or until ``release()``."""
        with self._holding:
            self.held += 1
            self._holding.notify_all()
        self._released.wait(self.delay)

    def wait_held(self, count: int = 1, timeout: float = 60.0) -> bool:
        """Until ``count`` responses are being held; the timeout only stops a broken test hanging."""
        with self._holding:
            return self._holding.wait_for(lambda: self.held >= count, timeout)

    def release(self) -> None:
        """Answer every held response now, and every later one at once."""
        self._released.set()

    def matches(self, resource: str | None, page: int | None) -> bool:
        """Whether this fault applies to a request for ``resource`` (page ``None``: not a list)."""
        if self.resource is None:
            if page is None:  # resource-less faults only hit list requests
                return False
        elif self.resource != resource:
            return False
        return self.page is None or self.page == page


class FaultSet:
    """The faults of one cluster; thread-safe because every request thread consults it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault; held responses are answered (a stopping server must not wait on them)."""
        with self._lock:
            for fault in self._faults:
                fault.release()
            self._faults.clear()

    def take(self, resource: str | None, page: int | None) -> Fault | None:
        """The first fault that fires for this request, counting it against ``times``."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(resource, page):
                    fault.fired += 1
                    if fault.times is not None and fault.fired >= fault.times:
                        self._faults.remove(fault)
                    return fault
        return None
