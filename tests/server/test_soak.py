"""A soak test of the "process" task server (issue 18): 16 workers at once, tasks from
8 bytes to 1 MB, prefetch 1 and 128, workers SIGKILLed and SIGSTOPped mid-run, one
worker sending bad tasks; then close() must leave nothing behind."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections import Counter

import pytest

from syllabus_like import DiscreteTaskSpace, DomainRandomization
from syllabus_like.server import TaskServer, TaskServerError

#: Tasks of 8 bytes, 1 kB, 64 kB and 1 MB: every reply and report carries them.
TASKS = [b"s" * 8, b"k" * 1024, b"m" * 65536, b"l" * (1 << 20)]
SPACE = DiscreteTaskSpace(TASKS)


class EpisodeLedger(DomainRandomization):
    """Records every episode report as ``(worker, sequence number)``; the task must be the one played."""

    def __init__(self):
        super().__init__(SPACE, seed=0)
        self.reports: list[tuple[int, int]] = []

    def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None):
        assert task in TASKS and length == len(task)  # the very task the worker played
        self.reports.append((env_id, int(episode_return)))


def play(client, worker: int, episodes: int, ready, hold, results) -> None:
    """Play one-step episodes (return = sequence number): ``episodes`` of them, then on until ``hold`` is set.

    It flushes once after the first three and sets ``ready``, so it is surely
    connected and alive while the test stops and kills workers.
    """
    sequence = 0
    while sequence < episodes or not hold.is_set():
        task = client.sample(1)[0]
        client.update_on_episode(float(sequence), len(task), task, env_id=worker)
        sequence += 1
        if sequence == 3:
            client.flush()
            ready.set()
    client.close()  # delivers what is still buffered
    results.put(("done", worker, sequence))


def play_forever(client, worker: int, ready) -> None:
    """Play until killed."""
    sequence = 0
    while True:
        task = client.sample(1)[0]
        client.update_on_episode(float(sequence), len(task), task, env_id=worker)
        sequence += 1
        if sequence == 3:
            client.flush()
            ready.set()


def send_bad_tasks(client, worker: int, rounds: int, ready, results) -> None:
    """Report tasks outside the space; count how often the server refused them, and stay usable."""
    refused = 0
    for _ in range(rounds):
        client.update_on_episode(1.0, 1, b"not a task", env_id=worker)
        try:
            client.flush()
        except TaskServerError as error:
            refused += "refused" in str(error)
        assert client.sample(1)[0] in TASKS
        ready.set()
    client.close()
    results.put(("bad", worker, refused))


def _noop() -> None:
    pass


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.slow
def test_sixteen_workers_with_large_tasks_kills_stops_and_a_bad_worker():
    ctx = mp.get_context("forkserver")
    warm = ctx.Process(target=_noop)  # the forkserver and its descriptors exist before we count
    warm.start()
    warm.join()
    results = ctx.Queue()
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()

    ledger = EpisodeLedger()
    server = TaskServer(ledger, backend="process", timeout=60)
    address = server.client().address
    plans = (
        [("play", 1, 40)] * 9  # workers 0-8 (0, 1 and 9 get stopped for a while)
        + [("play", 128, 200)] * 3  # workers 9-11
        + [("forever", 1, None)] * 3  # workers 12-14, killed
        + [("bad", 1, 5)]  # worker 15
    )
    workers, readies = [], []
    hold = ctx.Event()  # the players play on until it is set
    for worker, (kind, prefetch, count) in enumerate(plans):
        client = server.client(prefetch=prefetch)
        ready = ctx.Event()
        if kind == "play":
            process = ctx.Process(target=play, args=(client, worker, count, ready, hold, results))
        elif kind == "forever":
            process = ctx.Process(target=play_forever, args=(client, worker, ready))
        else:
            process = ctx.Process(target=send_bad_tasks, args=(client, worker, count, ready, results))
        process.start()
        workers.append(process)
        readies.append(ready)
    for ready in readies:
        assert ready.wait(60)

    stopped = [workers[0], workers[1], workers[9]]
    for process in stopped:
        os.kill(process.pid, signal.SIGSTOP)
    killed = workers[12:15]
    for process in killed:
        os.kill(process.pid, signal.SIGKILL)
    applied_before = len(ledger.reports)
    time.sleep(1.5)  # others go on while three workers are stopped and three are dead
    server.flush(timeout=30)
    assert len(ledger.reports) > applied_before
    for process in stopped:
        os.kill(process.pid, signal.SIGCONT)
    hold.set()

    finished = [results.get(timeout=80) for _ in range(len(workers) - len(killed))]
    for process in workers:
        process.join(timeout=30)
    assert [process.exitcode for process in killed] == [-signal.SIGKILL] * 3
    assert all(process.exitcode == 0 for process in workers if process not in killed)
    server.flush(timeout=30)

    by_worker = Counter(worker for worker, _ in ledger.reports)
    reports = Counter(ledger.reports)
    assert max(reports.values()) == 1  # nothing applied twice
    for kind, worker, value in finished:
        if kind == "done":  # a live worker: every report applied exactly once
            assert sorted(seq for w, seq in ledger.reports if w == worker) == list(range(value))
        else:  # the bad worker: every bad report refused to it alone, nothing of it applied
            assert (kind, worker, value) == ("bad", 15, 5)
            assert by_worker[15] == 0
    for process in killed:  # a killed worker: what arrived is a prefix of what it played, once each
        worker = workers.index(process)
        received = sorted(seq for w, seq in ledger.reports if w == worker)
        assert received == list(range(len(received))) and len(received) >= 3

    server.close()  # raises nothing: the server never failed
    for process in workers:
        process.close()  # releases its sentinel descriptor
    results.close()
    results.join_thread()
    assert set(threading.enumerate()) - threads_before == set()
    assert _open_fds() - fds_before == set()
    assert not os.path.exists(address) and not os.path.exists(os.path.dirname(address))
