"""The executors of femvalley.execution: same items whichever runs them, failures named."""

from __future__ import annotations

import os

import pytest

from femvalley.execution import (
    DaskCluster,
    InProcess,
    LocalProcesses,
    make_executor,
)


def squares(shared, task):
    """Yield ``shared * i**2`` for every ``i`` of the task, in order."""
    for i in task:
        yield (i, shared * i * i)


def fails_on_three(shared, task):
    for i in task:
        if i == 3:
            raise ValueError("three is not allowed")
        yield i


def dies_on_three(shared, task):
    for i in task:
        if i == 3:
            os._exit(7)  # a worker killed without a word (out of memory, a segfault)
        yield i


TASKS = [[0, 1, 2], [3, 4], [5], [6, 7, 8, 9]]
EXPECTED = {(i, 10 * i * i) for t in TASKS for i in t}


def _check_items(items):
    assert set(items) == EXPECTED and len(items) == len(EXPECTED)
    # the items of one task come in the task's order
    for task in TASKS:
        pos = [items.index((i, 10 * i * i)) for i in task]
        assert pos == sorted(pos)


def test_in_process_streams_the_items_of_a_generator_as_they_are_made():
    seen = []

    def task_fn(shared, task):
        for i in task:
            seen.append(i)
            yield i

    gen = InProcess().map_unordered(task_fn, None, [[1, 2, 3]])
    assert next(gen) == 1 and seen == [1]  # the second item is not computed yet
    assert list(gen) == [2, 3]


def test_in_process_as_workers_see_it_gives_a_copy_of_the_shared_object():
    shared = {"a": [1]}
    got = []
    with InProcess(as_workers_see_it=True) as ex:
        for item in ex.map_unordered(lambda s, t: [s], shared, [[0]]):
            got.append(item)
    assert got == [shared] and got[0] is not shared


def test_local_processes_give_every_item_of_every_task():
    with LocalProcesses(2) as ex:
        items = list(ex.map_unordered(squares, 10, TASKS))
    _check_items(items)
    with InProcess() as ex:
        _check_items(list(ex.map_unordered(squares, 10, TASKS)))


def test_a_failing_task_in_a_worker_is_raised_with_its_cause():
    with (
        LocalProcesses(2) as ex,
        pytest.raises(RuntimeError, match="ValueError: three is not allowed"),
    ):
        list(ex.map_unordered(fails_on_three, None, TASKS))


def test_a_worker_that_dies_is_reported_not_waited_for():
    with (
        LocalProcesses(2) as ex,
        pytest.raises(RuntimeError, match=r"worker process died \(exit code 7\).*--resume"),
    ):
        list(ex.map_unordered(dies_on_three, None, TASKS))


def test_dask_cluster_gives_every_item_of_every_task():
    pytest.importorskip("distributed")
    with DaskCluster(workers=2) as ex:
        _check_items(list(ex.map_unordered(squares, 10, TASKS)))


def test_make_executor_chooses_by_workers_and_scheduler():
    assert isinstance(make_executor(), InProcess)
    assert isinstance(make_executor(workers=2), LocalProcesses)
    with pytest.raises(ValueError, match=r"workers = 0 must be an integer >= 1"):
        make_executor(workers=0)
    with pytest.raises(ValueError, match=r"processes = 'threads'; allowed"):
        make_executor(workers=2, processes="threads")
