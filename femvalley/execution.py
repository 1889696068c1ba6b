"""Where the work of a run goes: this process, local worker processes, or a Dask cluster.

Sweeps (chunks of detuning points) and ensembles (groups of realisations) hand their work to
an executor the same way: a function ``fn(shared, task)`` that returns or yields the results
of one task, the object every task needs (``shared``: operators, a reduced basis; sent to
each worker once) and the list of tasks. :meth:`Executor.map_unordered` yields the results as
they come: the items of one task in order, tasks in the order they finish.

- :class:`InProcess`: here, one task after the other; a generator ``fn`` streams its items
  (a sweep stores every point as soon as it is solved). ``as_workers_see_it=True`` gives
  ``fn`` a pickled copy of ``shared``, exactly what a worker receives (factorisations that do
  not pickle are redone inside the tasks), so the numbers do not depend on where they run.
- :class:`LocalProcesses`: ``workers`` processes started with ``spawn`` (CHOLMOD's OpenMP and
  the BLAS thread pools are not fork-safe), one BLAS thread each; items are streamed back.
- :class:`DaskCluster`: a ``distributed.LocalCluster`` of ``workers`` processes, or the
  workers of a scheduler address (a cluster job); each task's items come back when it ends.

Use :func:`make_executor` to choose, and the executor as a context manager.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any

__all__ = ["DaskCluster", "Executor", "InProcess", "LocalProcesses", "make_executor"]

#: a task function: ``fn(shared, task)`` returns or yields the task's results
TaskFunction = Callable[[Any, Any], Iterable[Any]]


class Executor:
    """Base of the executors: ``map_unordered``, ``close`` and the context manager."""

    def map_unordered(self, fn: TaskFunction, shared: Any, tasks: Sequence[Any]) -> Iterator[Any]:
        """Yield the items of every task's results, tasks in the order they finish."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the workers (nothing for :class:`InProcess`)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class InProcess(Executor):
    """Run the tasks here, one after the other."""

    def __init__(self, *, as_workers_see_it: bool = False) -> None:
        self.as_workers_see_it = bool(as_workers_see_it)

    def map_unordered(self, fn: TaskFunction, shared: Any, tasks: Sequence[Any]) -> Iterator[Any]:
        """Yield the items of ``fn(shared, task)`` for every task, as they are produced."""
        if self.as_workers_see_it:
            shared = pickle.loads(pickle.dumps(shared, protocol=pickle.HIGHEST_PROTOCOL))
        for task in tasks:
            yield from fn(shared, task)


class _TaskDone:
    """Marker a worker process sends after the last item of a task."""


class LocalProcesses(Executor):
    """Tasks shared out among ``workers`` local processes (spawned), one BLAS thread each."""

    def __init__(self, workers: int) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers = {workers!r} must be an integer >= 1")
        self.workers = workers

    def map_unordered(self, fn: TaskFunction, shared: Any, tasks: Sequence[Any]) -> Iterator[Any]:
        """Yield the items of every task as the workers produce them."""
        import multiprocessing as mp
        import queue

        if not tasks:
            return
        ctx = mp.get_context("spawn")
        task_q: Any = ctx.Queue()
        result_q: Any = ctx.Queue()
        for task in tasks:
            task_q.put(task)
        n = min(self.workers, len(tasks))
        for _ in range(n):
            task_q.put(None)
        procs = [
            ctx.Process(target=_process_worker, args=(fn, shared, task_q, result_q))
            for _ in range(n)
        ]
        try:
            for p in procs:
                p.start()
            remaining = len(tasks)
            while remaining:
                try:
                    item = result_q.get(timeout=1.0)
                except queue.Empty:
                    dead = [p for p in procs if p.exitcode not in (None, 0)]
                    if dead:
                        raise RuntimeError(
                            f"a worker process died (exit code {dead[0].exitcode}); what is "
                            "finished is stored: rerun with --resume"
                        ) from None
                    continue
                if isinstance(item, _TaskDone):
                    remaining -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
                p.join()


def _process_worker(
    fn: TaskFunction, shared: Any, task_q: Any, result_q: Any
) -> None:  # pragma: no cover - runs in a worker process
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)  # one core per worker
    except ImportError:  # threadpoolctl is a dependency
        pass
    try:
        while (task := task_q.get()) is not None:
            for item in fn(shared, task):
                result_q.put(item)
            result_q.put(_TaskDone())
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        result_q.put(RuntimeError(f"worker failed: {type(exc).__name__}: {exc}"))


def _collect(fn: TaskFunction, shared: Any, task: Any) -> list[Any]:
    """Run one task and return its items as a list (what a Dask future can carry)."""
    return list(fn(shared, task))


class DaskCluster(Executor):
    """Tasks on a Dask cluster: a scheduler address, or a LocalCluster of ``workers`` here."""

    def __init__(self, *, workers: int = 1, scheduler: str | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as err:  # pragma: no cover - a dependency
            raise ValueError(
                "parallel ensembles need dask.distributed: pip install 'dask[distributed]'"
            ) from err
        self._cluster = None
        if scheduler is None:
            self._cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
            self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(scheduler, timeout="30s")
            except OSError as err:
                raise ValueError(
                    f"execution.scheduler = {scheduler!r}: cannot reach a Dask scheduler there "
                    f"({err})"
                ) from err

    def map_unordered(self, fn: TaskFunction, shared: Any, tasks: Sequence[Any]) -> Iterator[Any]:
        """Yield the items of every task when it ends, tasks in the order they end."""
        from distributed import as_completed

        data = self.client.scatter(shared, broadcast=True, hash=False)
        futures = [self.client.submit(_collect, fn, data, task, pure=False) for task in tasks]
        try:
            # as_completed waits on the default client's event loop unless told otherwise;
            # with another Client in the process (a notebook's, a test's) the futures'
            # events would then be bound to the wrong loop ("bound to a different event
            # loop" from fut.result() after a worker is lost): wait on our client's loop
            for fut in as_completed(futures, loop=self.client.loop):
                yield from fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        """Close the client, and the local cluster if this executor started one."""
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(
    *,
    workers: int = 1,
    scheduler: str | None = None,
    processes: str = "local",
    as_workers_see_it: bool = False,
) -> Executor:
    """Return the executor for ``workers`` and ``scheduler``.

    One worker and no scheduler: :class:`InProcess`. A scheduler address: :class:`DaskCluster`
    on it. Otherwise ``workers`` processes: :class:`LocalProcesses` (``processes="local"``) or
    a Dask ``LocalCluster`` (``processes="dask"``).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers = {workers!r} must be an integer >= 1")
    if processes not in ("local", "dask"):
        raise ValueError(f"processes = {processes!r}; allowed: 'local', 'dask'")
    if scheduler is None and workers == 1:
        return InProcess(as_workers_see_it=as_workers_see_it)
    if scheduler is not None or processes == "dask":
        return DaskCluster(workers=workers, scheduler=scheduler)
    return LocalProcesses(workers)
