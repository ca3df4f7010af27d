"""The "process" backend: workers in other processes, faults, flush and close."""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import pickle
import signal
import threading
import time
from collections import Counter

import numpy as np
import pytest
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from server_support import (
    CurriculumBoom,
    RecordingCurriculum,
    check_episodes_consistent,
    expect_server_error,
    make_env,
    play_episodes,
    play_until_killed,
    tally_vector_episodes,
)

from syllabus_like.server import TaskServer, TaskServerError

MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]


def run_workers(client, context: str, num_workers: int, num_episodes: int) -> Counter:
    """Play ``num_episodes`` in each of ``num_workers`` processes; return every episode they played."""
    ctx = mp.get_context(context)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=play_episodes, args=(client, num_episodes, env_id, results)) for env_id in range(num_workers)
    ]
    for worker in workers:
        worker.start()
    played = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    return RecordingCurriculum.episode_triples_of([episode for _, episodes in played for episode in episodes])


# ------------------------------------------------------------------ workers


@pytest.mark.parametrize("context", ["spawn", "forkserver", "fork"])
def test_workers_under_every_start_method_report_exactly(context):
    curriculum = RecordingCurriculum()
    with TaskServer(curriculum, backend="process") as server:
        client = server.client()
        played = run_workers(client, context, num_workers=2, num_episodes=40)
        server.flush(timeout=30)
        assert curriculum.episode_triples() == played
    assert sum(played.values()) == 80
    check_episodes_consistent(played)
    assert {env_id for *_, env_id in curriculum.episodes} == {0, 1}
    reported_tasks = Counter(task for *_, task, _, _ in curriculum.episodes)
    sampled_tasks = Counter(curriculum.sampled)
    assert all(sampled_tasks[task] >= count for task, count in reported_tasks.items())


def test_auto_prefetch_through_the_process_backend_reports_exactly():
    curriculum = RecordingCurriculum()
    with TaskServer(curriculum, backend="process", prefetch="auto") as server:
        played = run_workers(server.client(), "spawn", num_workers=2, num_episodes=300)
        server.flush(timeout=30)
        assert curriculum.episode_triples() == played
    assert sum(played.values()) == 600
    # Fast episodes: requests grew to many tasks, so far more were drawn ahead than prefetch=1 leaves (2 per worker).
    assert len(curriculum.sampled) - 600 > 20


def test_client_is_small_picklable_and_opens_its_own_connection():
    with TaskServer(RecordingCurriculum(), backend="process", prefetch=3, batch_size=17) as server:
        client = server.client()
        data = pickle.dumps(client)
        assert len(data) < 600
        copy = pickle.loads(data)
        assert (copy.prefetch, copy.batch_size, copy.address) == (3, 17, client.address)
        assert copy.sample(2) and client.sample(1)
        assert "connected" in repr(copy)
        override = server.client(prefetch=0, batch_size=1)
        assert (override.prefetch, override.batch_size) == (0, 1)
        assert pickle.loads(pickle.dumps(server.client(prefetch="auto"))).prefetch == "auto"
    with TaskServer(RecordingCurriculum(), backend="process") as server:
        assert server.client().prefetch == 1  # the process backend's default


@pytest.mark.parametrize("mode", MODES)
def test_async_vector_env_with_spawned_workers_in_every_autoreset_mode(mode):
    curriculum = RecordingCurriculum()
    with TaskServer(curriculum, backend="process") as server:
        client = server.client()
        envs = AsyncVectorEnv(
            [functools.partial(make_env, client, i) for i in range(4)], autoreset_mode=mode, context="spawn"
        )
        seen = tally_vector_episodes(envs, mode, num_steps=200)
        envs.close()  # the workers' wrappers close their clients: every report is sent
        server.flush(timeout=30)
        assert curriculum.episode_triples() == seen
    assert sum(seen.values()) > 80
    check_episodes_consistent(seen)
    assert {env_id for *_, env_id in curriculum.episodes} == {0, 1, 2, 3}


@pytest.mark.parametrize("mode", MODES)
def test_sync_vector_env_through_a_process_client_in_every_autoreset_mode(mode):
    curriculum = RecordingCurriculum()
    with TaskServer(curriculum, backend="process", prefetch=2) as server:
        client = server.client()
        envs = SyncVectorEnv([functools.partial(make_env, client, i) for i in range(3)], autoreset_mode=mode)
        seen = tally_vector_episodes(envs, mode, num_steps=200)
        envs.close()
        server.flush(timeout=30)
        assert curriculum.episode_triples() == seen
    check_episodes_consistent(seen)
    assert sum(seen.values()) > 60


def test_step_updates_arrive_complete_and_in_order():
    curriculum = RecordingCurriculum(step_updates=True)
    with TaskServer(curriculum, backend="process", batch_size=7) as server:
        client = server.client()
        assert client.requires_step_updates
        played = run_workers(client, "spawn", num_workers=1, num_episodes=25)
        server.flush(timeout=30)
    assert len(curriculum.steps) == sum(length * count for (_, length, _), count in played.items())
    assert sum(step[3] for step in curriculum.steps) == 25  # terminated flags
    for task, obs, reward, terminated, truncated, progress, env_id in curriculum.steps:
        assert obs[0] == task and reward == task and env_id == 0
        assert progress == (1.0 if terminated else 0.0) and not truncated
    # steps of one episode come in order: the step counter in obs runs 1, 2, ... until the end
    position = 0
    for _, obs, _, terminated, *_ in curriculum.steps:
        position += 1
        assert obs[1] == position
        if terminated:
            position = 0


def test_batched_progress_and_step_reports_and_requires_step_updates_changes():
    curriculum = RecordingCurriculum()
    with TaskServer(curriculum, backend="process", prefetch=0) as server:
        client = server.client()
        assert not client.requires_step_updates
        client.update_task_progress(2, 0.5, env_id=1)
        client.update_on_step_batch(
            [(3, np.zeros(2), 1.0, False, False, {}), (3, np.ones(2), 1.0, True, False, {}, 1.0)]
        )
        with pytest.raises(ValueError, match="got a tuple of length 2"):
            client.update_on_step_batch([(3, 1.0)])
        assert curriculum.progress == []  # still buffered in the client
        server.curriculum.requires_step_updates = True
        client.flush()
        assert curriculum.progress == [(2, 0.5, 1)]
        assert [(task, obs, terminated, progress) for task, obs, _, terminated, _, progress, _ in curriculum.steps] == [
            (3, (0.0, 0.0), False, 0.0),
            (3, (1.0, 1.0), True, 1.0),
        ]
        assert client.requires_step_updates  # learned from the flush reply


def test_server_flush_waits_for_every_sent_report_and_times_out_clearly():
    curriculum = RecordingCurriculum()
    curriculum.block = threading.Event()
    with TaskServer(curriculum, backend="process", prefetch=0, batch_size=1) as server:
        client = server.client()  # used right here, in the training process
        for index in range(50):
            client.update_on_episode(float(index), 1, 1)  # batch_size=1: each is sent at once
        with pytest.raises(TimeoutError, match="within 0.3 s"):
            server.flush(timeout=0.3)  # the curriculum is blocked on the first report
        curriculum.block.set()
        server.flush(timeout=30)
        assert [episode[0] for episode in curriculum.episodes] == [float(index) for index in range(50)]


def test_learner_calls_never_overlap_with_worker_reports():
    curriculum = RecordingCurriculum(guard=True)
    with TaskServer(curriculum, backend="process") as server:
        client = server.client()
        ctx = mp.get_context("spawn")
        results = ctx.Queue()
        workers = [ctx.Process(target=play_episodes, args=(client, 150, i, results)) for i in range(2)]
        for worker in workers:
            worker.start()
        learner_calls = 0
        while any(worker.is_alive() for worker in workers) or learner_calls == 0:
            server.curriculum.metrics()
            learner_calls += 1
        played = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join()
        server.flush(timeout=30)
    assert curriculum.overlaps == 0
    assert len(curriculum.episodes) == 300 == sum(len(episodes) for _, episodes in played)
    assert learner_calls > 10


def test_a_forked_child_reuses_a_connected_client_safely():
    curriculum = RecordingCurriculum()
    with TaskServer(curriculum, backend="process", prefetch=2) as server:
        client = server.client()
        parent_played = play_episodes(client, 10, env_id=0)  # connected, with tasks prefetched
        ctx = mp.get_context("fork")
        results = ctx.Queue()
        child = ctx.Process(target=play_episodes, args=(client, 10, 1, results))
        child.start()
        _, child_played = results.get(timeout=60)
        child.join()
        parent_played += play_episodes(client, 10, env_id=0)
        server.flush(timeout=30)
    assert curriculum.episode_triples() == RecordingCurriculum.episode_triples_of(parent_played + child_played)


# ------------------------------------------------------------------- faults


def test_killed_worker_stalls_nothing_keeps_its_reports_and_can_be_replaced():
    curriculum = RecordingCurriculum()
    ctx = mp.get_context("spawn")
    with TaskServer(curriculum, backend="process") as server:
        client = server.client()
        ready = ctx.Event()
        victim = ctx.Process(target=play_until_killed, args=(client, 30, ready))
        victim.start()
        assert ready.wait(60)
        time.sleep(0.05)  # let it send more reports, then kill it mid-stream
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(timeout=10)
        assert victim.exitcode == -signal.SIGKILL
        server.flush(timeout=10)  # the dead worker's connection stalls nothing
        from_victim = [episode for episode in curriculum.episodes if episode[4] == 99]
        assert len(from_victim) >= 30  # what it flushed before dying is applied
        check_episodes_consistent(Counter((r, n, t) for r, n, t, _, _ in from_victim))

        played = run_workers(client, "spawn", num_workers=1, num_episodes=40)  # a restarted worker
        server.flush(timeout=10)
        after = Counter((r, n, t) for r, n, t, _, env_id in curriculum.episodes if env_id == 0)
        assert after == played
        assert server.curriculum.metrics()["episodes"] == len(from_victim) + 40


@pytest.mark.parametrize("where", ["update", "sample"])
def test_curriculum_exception_reaches_the_worker_in_seconds_and_the_trainer_as_itself(where):
    failing = {"update": {"fail_on_episode": 20}, "sample": {"fail_on_sample": 10}}[where]
    curriculum = RecordingCurriculum(**failing)
    ctx = mp.get_context("spawn")
    with TaskServer(curriculum, backend="process") as server:
        results = ctx.Queue()
        worker = ctx.Process(target=expect_server_error, args=(server.client(), results))
        worker.start()
        name, message, waited = results.get(timeout=60)
        worker.join(timeout=30)
        assert name == "TaskServerError"
        assert "CurriculumBoom" in message and "exploded" in message
        assert waited < 10
        with pytest.raises(CurriculumBoom, match="exploded"):
            server.curriculum.metrics()  # the trainer's next server call
        with pytest.raises(TaskServerError, match="failed earlier: CurriculumBoom"):
            server.flush()
        with pytest.raises(TaskServerError, match="failed earlier"):
            server.client()


def test_a_failure_nobody_saw_is_raised_by_close_and_new_clients_are_refused():
    server = TaskServer(RecordingCurriculum(fail_on_sample=1), backend="process", prefetch=0)
    client = server.client()
    with pytest.raises(TaskServerError, match="sample exploded"):
        client.sample(1)
    late = pickle.loads(pickle.dumps(client))
    with pytest.raises(TaskServerError, match="sample exploded"):
        late.sample(1)  # a client connecting after the failure is told at once
    with pytest.raises(CurriculumBoom, match="sample exploded"):
        server.close()
    assert server.closed
    server.close()  # idempotent, and the failure is not raised twice


def test_a_crashed_server_thread_is_reported_not_silent(monkeypatch):
    with TaskServer(RecordingCurriculum(), backend="process", prefetch=0) as server:
        client = server.client()
        client.sample(1)

        def crash(channel, frame):
            raise MemoryError("dispatcher bug")

        monkeypatch.setattr(server._backend, "_handle_request", crash)
        with pytest.raises(TaskServerError, match="closed the connection"):
            client.sample(1)
        with pytest.raises(TaskServerError, match="dispatcher thread crashed: MemoryError: dispatcher bug"):
            server.flush(timeout=10)


def test_a_client_with_the_wrong_key_is_rejected_and_the_server_keeps_serving():
    from syllabus_like.server.process import ProcessClient

    with TaskServer(RecordingCurriculum(), backend="process") as server:
        good = server.client()
        intruder = ProcessClient(good.address, b"not the key")
        with pytest.raises(TaskServerError, match="rejected this client's key"):
            intruder.sample(1)
        assert len(good.sample(3)) == 3


def test_clients_of_a_closed_server_fail_clearly():
    server = TaskServer(RecordingCurriculum(), backend="process")
    client = server.client()
    server.close()
    with pytest.raises(TaskServerError, match="cannot reach the task server at .*was it closed"):
        client.sample(1)
    with pytest.raises(TaskServerError, match="closed"):
        server.flush()


# -------------------------------------------------------------------- close


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))  # Linux


def test_close_leaves_no_thread_socket_file_or_descriptor_behind():
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    handlers_before = {sig: signal.getsignal(sig) for sig in signal.valid_signals()}
    server = TaskServer(RecordingCurriculum(), backend="process")
    client = server.client()
    play_episodes(client, 20, env_id=0)  # connects, reports, then closes the client
    client.sample(1)  # connected again
    address = client.address
    assert os.path.exists(address)
    new_threads = {thread.name for thread in set(threading.enumerate()) - threads_before}
    assert new_threads == {"task-server-acceptor", "task-server-dispatcher"}
    server.close()
    client.close()
    server.close()
    assert set(threading.enumerate()) - threads_before == set()
    assert not os.path.exists(address) and not os.path.exists(os.path.dirname(address))
    assert _open_fds() - fds_before == set()
    handlers_after = {sig: signal.getsignal(sig) for sig in handlers_before}
    assert handlers_after == handlers_before
