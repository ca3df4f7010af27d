"""The task server under hostile conditions (issue 18): large messages, bad workers,
stalled handshakes, exhausted descriptors, a process that never closes its server."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import pickle
import resource
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from server_support import CountdownTaskEnv, RecordingCurriculum

from syllabus_like import (
    BoxTaskSpace,
    DiscreteTaskSpace,
    DomainRandomization,
    SequentialCurriculum,
    TaskSpaceError,
)
from syllabus_like.server import TaskServer, TaskServerError
from syllabus_like.server import process as process_backend
from syllabus_like.server.protocol import EPISODE, MAX_CLIENT_TASKS, MAX_TASKS_PER_REQUEST
from syllabus_like.wrappers import CurriculumWrapper


class CountingRandomization(DomainRandomization):
    """DomainRandomization that counts the episodes reported to it."""

    def __init__(self, space, seed=0):
        super().__init__(space, seed=seed)
        self.episodes = 0

    def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None):
        self.episodes += 1


def _play_one_step_episodes(client, num_episodes: int, errors: list) -> None:
    try:
        for _ in range(num_episodes):
            task = client.sample(1)[0]
            client.update_on_episode(1.0, 1, task)
        client.flush()
    except BaseException as error:  # the test thread reports it
        errors.append(error)


# ------------------------------------------------------- item 1: no deadlock


@pytest.mark.parametrize(("dimension", "prefetch", "episodes"), [(32_000, 1, 40), (256, 128, 400)])
def test_large_messages_never_deadlock_a_worker_against_the_server(dimension, prefetch, episodes):
    curriculum = CountingRandomization(BoxTaskSpace(0.0, 1.0, (dimension,)))
    with TaskServer(curriculum, backend="process", prefetch=prefetch, timeout=10) as server:
        client = server.client()
        errors: list = []
        worker = threading.Thread(target=_play_one_step_episodes, args=(client, episodes, errors))
        worker.start()
        worker.join(timeout=60)
        assert not worker.is_alive() and errors == []
        server.flush(timeout=10)
        assert server.curriculum.episodes == episodes
        client.close()


def test_a_client_that_never_reads_its_large_replies_stalls_nobody_else():
    curriculum = CountingRandomization(BoxTaskSpace(0.0, 1.0, (32_000,)))
    with TaskServer(curriculum, backend="process", timeout=10) as server:
        sleeper = server.client(prefetch=0)
        sleeper.sample(1)  # connected
        for _ in range(8):  # 8 x 64 tasks of 256 kB asked for and never read
            sleeper._request(64)
        errors: list = []
        workers = [
            threading.Thread(target=_play_one_step_episodes, args=(server.client(), 20, errors)) for _ in range(3)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert errors == []
        server.flush(timeout=10)
        assert server.curriculum.episodes == 60


# ---------------------------------------------- item 3: one bad worker, alone


def _sequential():
    space = DiscreteTaskSpace(4)
    return SequentialCurriculum([[0, 1], [2, 3]], ["episodes>=1000"], space, seed=0)


def test_a_report_with_a_foreign_task_is_refused_to_its_worker_alone():
    with TaskServer(_sequential(), backend="process", prefetch=0, timeout=10) as server:
        bad = server.client()
        good = server.client()
        bad.update_on_episode(1.0, 3, 99)  # not a task of the space: the client cannot tell
        with pytest.raises(TaskServerError, match="refused a request of this client.*99"):
            bad.flush()
        assert bad.sample(2) and good.sample(2)  # both keep working
        good.update_on_episode(1.0, 3, 1)
        good.flush()
        server.flush(timeout=10)
        assert server.curriculum.metrics()["episodes"] == 1  # only the good report
    # close() raises nothing: the server never failed


def test_a_fire_and_forget_bad_report_is_told_with_the_next_reply_and_changes_nothing():
    with TaskServer(_sequential(), backend="process", prefetch=0, batch_size=1, timeout=10) as server:
        bad = server.client()
        bad.update_on_episode(1.0, 3, 99)  # batch_size=1: sent at once, no reply asked
        bad.update_on_episode(1.0, 3, 1)  # sent, applied
        with pytest.raises(TaskServerError, match="refused.*99.*not applied either"):
            bad.sample(1)
        assert len(bad.sample(1)) == 1
        server.flush(timeout=10)
        assert server.curriculum.metrics()["episodes"] == 1


def test_a_huge_sample_is_refused_at_the_client_and_by_the_server():
    with TaskServer(RecordingCurriculum(), backend="process", prefetch=0, timeout=10) as server:
        client = server.client()
        with pytest.raises(ValueError, match=f"takes k of at most {MAX_CLIENT_TASKS}, got {10**12}"):
            client.sample(10**12)
        with pytest.raises(ValueError, match=f"prefetch must be at most {MAX_CLIENT_TASKS}"):
            server.client(prefetch=10**9)
        client.sample(1)
        client._request(10**12)  # a client that skips its own check
        with pytest.raises(TaskServerError, match=f"0 to {MAX_TASKS_PER_REQUEST} tasks.*{10**12}"):
            client._take_reply()
        assert len(client.sample(3)) == 3
    # close() raised nothing: no MemoryError, no failure recorded


def test_tasks_are_stored_in_the_spaces_canonical_form():
    curriculum = RecordingCurriculum()
    with TaskServer(curriculum, backend="process", timeout=10) as server:
        client = server.client()
        client.update_on_episode(1.0, 2, 2.0)
        client.update_on_episode(1.0, 2, np.int64(3))
        client.flush()
        server.flush(timeout=10)
    tasks = [episode[2] for episode in curriculum.episodes]
    assert tasks == [2, 3] and all(type(task) is int for task in tasks)


@pytest.mark.parametrize("progress", [math.nan, math.inf, -0.5, 1.5, "1"])
def test_bad_progress_is_refused_where_it_is_made(progress):
    with TaskServer(RecordingCurriculum(), backend="process", timeout=10) as server:
        client = server.client()
        with pytest.raises(ValueError, match="progress must be a number in"):
            client.update_on_episode(1.0, 2, 1, progress)
        with pytest.raises(ValueError, match="progress must be a number in"):
            client.update_task_progress(1, progress)
        client._reports.append((EPISODE, 1.0, 2, 1, progress, None))  # a client that skips its check
        with pytest.raises(TaskServerError, match="progress must be a number in"):
            client.flush()


@pytest.mark.parametrize(("episode_return", "length"), [("1.0", 2), (1.0, -1), (1.0, 2.5), (None, 2)])
def test_bad_episode_numbers_are_refused_at_the_client(episode_return, length):
    with TaskServer(RecordingCurriculum(), backend="process", timeout=10) as server:
        with pytest.raises(ValueError, match="episode_return must be a real number|non-negative int"):
            server.client().update_on_episode(episode_return, length, 1)


class _NanCompletionEnv(CountdownTaskEnv):
    def step(self, action):
        obs, reward, done, truncated, info = super().step(action)
        return obs, reward, True, truncated, {"task_completion": math.nan}


def test_a_nan_task_completion_is_refused_at_the_wrapper():
    with TaskServer(RecordingCurriculum(), backend="process", timeout=10) as server:
        env = CurriculumWrapper(_NanCompletionEnv(), server.client())
        env.reset()
        with pytest.raises(ValueError, match="progress must be a number in \\[0, 1\\], got nan"):
            env.step(0)
        env.close()


def test_a_nan_task_completion_is_refused_at_the_wrapper_with_a_local_curriculum_too():
    curriculum = RecordingCurriculum()
    env = CurriculumWrapper(_NanCompletionEnv(), curriculum)
    env.reset()
    with pytest.raises(ValueError, match="progress must be a number in \\[0, 1\\], got nan"):
        env.step(0)
    assert curriculum.episodes == []


def test_an_explicit_task_outside_the_space_is_refused_at_reset_without_a_task_wrapper():
    env = CurriculumWrapper(CountdownTaskEnv(), _sequential())
    with pytest.raises(TaskSpaceError, match="99"):
        env.reset(options={"task": 99})
    env.reset(options={"task": 2})
    assert env.unwrapped.task == 2


# ------------------------------------------------------- item 4: handshakes


def test_a_connection_that_never_authenticates_delays_nobody_and_is_closed(monkeypatch):
    monkeypatch.setattr(process_backend, "HANDSHAKE_SECONDS", 0.5)
    with TaskServer(RecordingCurriculum(), backend="process", timeout=10) as server:
        idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        idle.settimeout(5)
        idle.connect(server.client().address)
        started = time.monotonic()
        assert len(server.client().sample(2)) == 2  # served while the idle one says nothing
        assert time.monotonic() - started < 2
        received = b""
        while chunk := idle.recv(4096):  # the challenge, then end of stream at the deadline
            received += chunk
        assert len(received) > 0
        idle.close()


def test_a_peer_sending_a_huge_frame_before_authenticating_is_dropped():
    with TaskServer(RecordingCurriculum(), backend="process", timeout=10) as server:
        hostile = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        hostile.settimeout(5)
        hostile.connect(server.client().address)
        hostile.sendall((1 << 40).to_bytes(8, "big") + b"x" * 100)
        received = b""
        while chunk := hostile.recv(4096):
            received += chunk
        hostile.close()
        assert len(server.client().sample(2)) == 2


# ------------------------------------------------- item 5: descriptor limits


def _serve_with_few_descriptors(connection) -> None:
    """Child: a server whose process may open only a few more descriptors; answers the parent's questions."""
    server = TaskServer(RecordingCurriculum(), backend="process", timeout=10)
    connection.send(server.client())
    assert connection.recv() == "limit"
    in_use = len(os.listdir("/proc/self/fd"))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 6, hard))
    connection.send("limited")
    while (message := connection.recv()) != "close":
        if message == "failure":
            connection.send(repr(server._backend.host.failure))
    try:
        server.close()
        connection.send("closed")
    except BaseException as error:
        connection.send(repr(error))


def test_running_out_of_descriptors_refuses_new_clients_at_once_and_keeps_serving():
    ctx = mp.get_context("spawn")
    parent_end, child_end = ctx.Pipe()
    child = ctx.Process(target=_serve_with_few_descriptors, args=(child_end,))
    child.start()
    try:
        template = parent_end.recv()
        first = pickle.loads(pickle.dumps(template))
        first.sample(1)
        parent_end.send("limit")
        assert parent_end.recv() == "limited"
        clients, refusals = [], []
        for _ in range(16):
            client = pickle.loads(pickle.dumps(template))
            started = time.monotonic()
            try:
                client.sample(1)
                clients.append(client)
            except TaskServerError as error:
                refusals.append((time.monotonic() - started, str(error)))
        assert refusals, "the limit was never reached"
        assert all(waited < 3 for waited, _ in refusals), refusals
        assert "closed the connection during the handshake" in refusals[0][1]
        first.update_on_episode(1.0, 2, 1)
        assert len(first.sample(2)) == 2  # connected clients are still served
        parent_end.send("failure")
        assert parent_end.recv() == "None"
        for client in clients:
            client.close()
        time.sleep(0.5)
        late = pickle.loads(pickle.dumps(template))
        assert len(late.sample(1)) == 1  # descriptors freed: new clients are served again
        late.close()
        first.close()
        parent_end.send("close")
        assert parent_end.recv() == "closed"
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()


# ------------------------------------------------- item 8: leftovers at exit


def test_a_server_never_closed_leaves_no_socket_directory_at_exit():
    code = (
        "from syllabus_like import DiscreteTaskSpace, DomainRandomization\n"
        "from syllabus_like.server import TaskServer\n"
        "server = TaskServer(DomainRandomization(DiscreteTaskSpace(3)), backend='process')\n"
        "client = server.client(); client.sample(1)\n"
        "print(client.address)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    address = result.stdout.strip()
    assert address.endswith("server")
    assert not os.path.exists(os.path.dirname(address))


def test_after_a_server_thread_crashed_new_clients_fail_at_once(monkeypatch):
    with TaskServer(RecordingCurriculum(), backend="process", prefetch=0, timeout=30) as server:
        client = server.client()
        client.sample(1)

        def crash(peer, frame):
            raise MemoryError("dispatcher bug")

        monkeypatch.setattr(server._backend, "_handle_request", crash)
        with pytest.raises(TaskServerError):
            client.sample(1)
        server._backend._dispatcher.join(timeout=10)
        late = server._backend.client()
        started = time.monotonic()
        with pytest.raises(TaskServerError, match="closed the connection during the handshake"):
            late.sample(1)
        assert time.monotonic() - started < 5
        with pytest.raises(TaskServerError, match="dispatcher thread crashed"):
            server.close()
