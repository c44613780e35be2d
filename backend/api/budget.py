"""The per-process budget: how many requests of each class run at once, how many threads may
block on the database, and how many connections the pool holds — derived from one set of
settings so that they cannot disagree.

The rule that makes the API unable to stall on its own pool: **every holder of a connection
is counted, and the pool has a connection for each of them**, so a checkout from the pool never
waits for another request to finish. The holders, per API process:

* requests of the *session classes* (``public``, ``bulk``, ``other``, ``health``): their sync
  routes hold a session (``SessionDep``) from the route's first query until FastAPI closes it,
  after the answer; admission control caps how many are in flight (``CREDANCE_ADMIT_<CLASS>``);
* the read executor (``CREDANCE_READ_THREADS``): balance and history reads take a connection
  inside one thread call and give it back before they return;
* key and store look-ups (``CREDANCE_LOOKUP_THREADS``), on threads of their own limiter;
* the group-commit threads, one connection at a time each: the checkout's writer, and the
  verification answers' scan writer and ``scan=false`` reader (backend/api/answers.py).

Checkout requests hold no connection while they wait (the writer records them), so their cap
bounds latency and memory, not connections; so do public verification answers taken by the fast
path (``public_fast``, ``CREDANCE_ADMIT_PUBLIC_FAST``): they take a ``public`` slot only for what
holds a thread or a connection (a cache build, or handing the request to the route). AnyIO's
thread limiter (sync routes and their dependencies) gets one token per session-class request in
flight: a sync route never waits for a thread either. See docs/performance.md for the figures behind the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from backend.settings import Settings


class RouteClass(StrEnum):
    """Admission classes: an overload of one never takes the capacity of another."""

    HEALTH = "health"  # /healthz (answered without the framework), /readyz, /metrics
    CHECKOUT = "checkout"  # POST /v1/purchases: the group-commit writer
    READS = "reads"  # a member's balance and history: the read executor
    PUBLIC = "public"  # verification pages, recall scopes: anyone, no key
    BULK = "bulk"  # item registration, recalls, EPCIS capture and queries: big bodies, long work
    OTHER = "other"  # everything else (program administration, refunds, redemptions…)


SESSION_CLASSES = (RouteClass.PUBLIC, RouteClass.BULK, RouteClass.OTHER, RouteClass.HEALTH)
WRITER_CONNECTIONS = 3  # the group-commit threads: purchases, scans recorded, scan=false reads


@dataclass(frozen=True)
class ClassLimit:
    concurrency: int  # requests of the class in flight at once
    queue: int  # requests that may wait for a slot
    max_wait_s: float  # longest wait for a slot before the request is refused (503)


@dataclass(frozen=True)
class Budget:
    limits: dict[RouteClass, ClassLimit]
    public_fast: ClassLimit  # fast-path verification answers in flight (no thread, no connection)
    read_threads: int
    lookup_threads: int
    retry_after_s: int
    loop_lag_s: float = 0.0  # event-loop lag beyond which full classes shed more (0: never; admission.py)

    @classmethod
    def from_settings(cls, settings: Settings) -> Budget:
        wait = settings.admit_max_wait_ms / 1000
        caps = {
            RouteClass.HEALTH: settings.admit_health,
            RouteClass.CHECKOUT: settings.admit_checkout,
            RouteClass.READS: settings.admit_reads,
            RouteClass.PUBLIC: settings.admit_public,
            RouteClass.BULK: settings.admit_bulk,
            RouteClass.OTHER: settings.admit_other,
        }
        return cls(
            limits={name: ClassLimit(cap, cap, wait) for name, cap in caps.items()},
            public_fast=ClassLimit(settings.admit_public_fast, settings.admit_public_fast, wait),
            read_threads=settings.read_threads,
            lookup_threads=settings.lookup_threads,
            retry_after_s=settings.admit_retry_after_s,
            loop_lag_s=settings.admit_loop_lag_ms / 1000,
        )

    @property
    def threads(self) -> int:
        """AnyIO's default thread limiter: one token per session-class request in flight."""
        return sum(self.limits[name].concurrency for name in SESSION_CLASSES)

    @property
    def pool_size(self) -> int:
        """Connections of the API's pool: one per possible holder (see the module docstring)."""
        return self.threads + self.read_threads + self.lookup_threads + WRITER_CONNECTIONS

    def describe(self) -> dict[str, object]:
        """What ``/readyz``-style diagnostics and the docs show: the whole budget in one place."""
        return {
            "classes": {name.value: limit.concurrency for name, limit in self.limits.items()},
            "public_fast": self.public_fast.concurrency,
            "max_wait_ms": round(next(iter(self.limits.values())).max_wait_s * 1000),
            "loop_lag_ms": round(self.loop_lag_s * 1000),
            "read_threads": self.read_threads,
            "lookup_threads": self.lookup_threads,
            "threads": self.threads,
            "pool_size": self.pool_size,
        }
