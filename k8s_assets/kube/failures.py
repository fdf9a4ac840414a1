"""Which failures are worth retrying.

Every step has a ``RetryPolicy`` (three tries with exponential backoff). That is right for
a network or server problem, which may be gone a minute later, and wrong for a data or
configuration problem, which comes back every time: retrying it turns a clear error into
minutes of waiting. Steps therefore run their work inside :func:`fail_fast_unless_transient`,
which re-raises a deterministic error as ``dagster.Failure(allow_retries=False)`` (Dagster's
own way to bypass the policy) and lets a transient one reach the policy unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg
import psycopg_pool

from k8s_assets.kube.config import ConfigError
from k8s_assets.kube.listing import ListingError

# psycopg.OperationalError covers a connection refused or dropped, a server shutting down,
# serialization failures and deadlocks: all may succeed when tried again.
TRANSIENT = (psycopg.OperationalError, psycopg_pool.PoolTimeout, ConnectionError, TimeoutError)
# A bad value, a violated constraint, wrong SQL, a missing file or a bug in our code: the same
# input fails the same way on every try.
DETERMINISTIC = (ConfigError, psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError,
                 psycopg.NotSupportedError, FileNotFoundError, PermissionError, IsADirectoryError,
                 NotADirectoryError, ValueError, TypeError, LookupError, AttributeError)


def is_transient(error: BaseException) -> bool:
    """True for errors a retry may cure; unknown errors get the benefit of the doubt."""
    if isinstance(error, ListingError):
        return error.transient
    if isinstance(error, TRANSIENT):
        return True
    return not isinstance(error, DETERMINISTIC)


@contextmanager
def fail_fast_unless_transient(what: str) -> Iterator[None]:
    """Run a step's work; a deterministic error becomes a Failure that Dagster does not retry."""
    try:
        yield
    except dg.Failure:
        raise
    except Exception as error:
        if is_transient(error):
            raise
        # A ConfigError's message already names its key; other errors need their class to be understood.
        detail = str(error) if isinstance(error, ConfigError) else f"{type(error).__name__}: {error}"
        raise dg.Failure(description=f"{what}: {detail}", allow_retries=False,
                         metadata={"error_class": type(error).__name__, "retried": False}) from error
