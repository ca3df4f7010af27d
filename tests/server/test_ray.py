"""The "ray" backend: the curriculum in an actor, clients in Ray tasks and actors."""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
import uuid
from collections import Counter

import pytest
import ray
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from ray import cloudpickle
from server_support import (
    SPACE,
    SUPPORT_DIR,
    CurriculumBoom,
    RecordingCurriculum,
    check_episodes_consistent,
    expect_server_error,
    make_env,
    play_episodes,
    tally_vector_episodes,
)

from syllabus_like import SequentialCurriculum
from syllabus_like.server import TaskServer, TaskServerError, ray_backend

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for the whole module (starting Ray takes seconds)."""
    with pytest.MonkeyPatch.context() as patch:
        # Ray workers import the helper module server_support by name.
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [SUPPORT_DIR, os.environ.get("PYTHONPATH")])))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            yield
        finally:
            ray.shutdown()


@ray.remote
def play_in_task(client, num_episodes, env_id):
    return play_episodes(client, num_episodes, env_id)


@ray.remote
def expect_error_in_task(client):
    import queue

    results = queue.Queue()
    expect_server_error(client, results)
    return results.get()


@ray.remote
def vector_env_in_task(client, mode, num_steps):
    envs = SyncVectorEnv([lambda i=i: make_env(client, i) for i in range(3)], autoreset_mode=mode)
    seen = tally_vector_episodes(envs, mode, num_steps)
    envs.close()
    return seen


@ray.remote
class EpisodePlayer:
    def __init__(self, client):
        self.client = client

    def play(self, num_episodes, env_id):
        return play_episodes(self.client, num_episodes, env_id)


def test_ray_backend_needs_a_running_ray(monkeypatch):
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises(RuntimeError, match=r"needs a running Ray: call ray.init\(\)"):
        TaskServer(RecordingCurriculum(), backend="ray")


@pytest.mark.parametrize("prefetch", [1, 4, "auto"])
def test_clients_in_ray_tasks_and_actors_report_exactly(ray_session, prefetch):
    with TaskServer(RecordingCurriculum(), backend="ray", prefetch=prefetch) as server:
        client = server.client()
        played = ray.get([play_in_task.remote(client, 30, env_id) for env_id in range(3)])
        player = EpisodePlayer.remote(client)
        played.append(ray.get(player.play.remote(30, 3)))
        server.flush()
        reported = server.curriculum.episode_triples()
        env_ids = {episode[4] for episode in server.curriculum.episodes}
        sampled = Counter(server.curriculum.sampled)
    expected = RecordingCurriculum.episode_triples_of([episode for episodes in played for episode in episodes])
    assert sum(expected.values()) == 120
    assert reported == expected
    check_episodes_consistent(expected)
    assert env_ids == {0, 1, 2, 3}
    assert all(sampled[task] >= count for task, count in Counter(t for _, _, t in expected.elements()).items())


def test_ray_clients_size_their_requests_to_the_env_by_default(ray_session):
    with TaskServer(RecordingCurriculum(), backend="ray") as server:
        assert server.client().prefetch == "auto"
        assert server.client(prefetch=3).prefetch == 3
    with TaskServer(RecordingCurriculum(), backend="ray", prefetch=2) as server:
        assert server.client().prefetch == 2


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED])
def test_sync_vector_env_in_a_ray_task_in_every_autoreset_mode(ray_session, mode):
    with TaskServer(RecordingCurriculum(), backend="ray") as server:
        seen = ray.get(vector_env_in_task.remote(server.client(), mode, 150))
        server.flush()
        assert server.curriculum.episode_triples() == seen
    assert sum(seen.values()) > 40
    check_episodes_consistent(seen)


def test_step_updates_travel_through_the_actor(ray_session):
    with TaskServer(RecordingCurriculum(step_updates=True), backend="ray", batch_size=5) as server:
        client = server.client()
        assert client.requires_step_updates
        played = ray.get(play_in_task.remote(client, 10, 0))
        server.flush()
        steps = server.curriculum.steps
    assert len(steps) == sum(length for _, length, _ in played)
    assert [step[3] for step in steps].count(True) == 10
    assert all(obs[0] == task for task, obs, *_ in steps)


def test_proxy_forwards_calls_reads_and_writes(ray_session):
    curriculum = SequentialCurriculum([1, [2, 3]], ["episodes>=2"], SPACE)
    with TaskServer(curriculum, backend="ray") as server:
        proxy = server.curriculum
        assert proxy.stage == 0 and proxy.num_stages == 2
        proxy.update_on_episode(1.0, 1, 1)
        proxy.update_on_episode(1.0, 1, 1)
        assert proxy.stage == 1  # read afresh from the actor
        assert set(server.client().sample(10)) <= {2, 3}
        assert proxy.metrics()["stage"] == 1.0
        state = proxy.state_dict()
        assert state["stage"] == 1
        proxy.return_buffer_size = 5
        assert proxy.return_buffer_size == 5
        with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
            proxy.nonexistent  # noqa: B018 (reading the attribute is the test)
        with pytest.raises(ValueError, match="non-negative int k"):
            proxy.sample(-1)  # the curriculum's own exception type comes back
    assert curriculum.stage == 0  # the actor has its own copy


def test_curriculum_exception_reaches_ray_workers_and_the_trainer(ray_session):
    with TaskServer(RecordingCurriculum(fail_on_episode=15), backend="ray") as server:
        name, message, waited = ray.get(expect_error_in_task.remote(server.client()))
        assert name == "TaskServerError" and "CurriculumBoom" in message and "update exploded" in message
        assert waited < 10
        with pytest.raises(CurriculumBoom, match="update exploded"):
            server.curriculum.metrics()
        with pytest.raises(TaskServerError, match="failed earlier"):
            server.flush()


def test_unseen_failure_is_raised_by_close_and_closed_server_refuses_clients(ray_session):
    server = TaskServer(RecordingCurriculum(fail_on_sample=1), backend="ray", prefetch=0)
    client = server.client()
    with pytest.raises(TaskServerError, match="sample exploded"):
        client.sample(1)
    with pytest.raises(CurriculumBoom, match="sample exploded"):
        server.close()
    server.close()
    fresh = TaskServer(RecordingCurriculum(), backend="ray")
    client = fresh.client()
    fresh.close()
    # Refused by the closing actor, or, once the kill has taken effect, by Ray.
    with pytest.raises(TaskServerError, match="task server was closed: its Ray actor serves no more|Ray actor is gone"):
        client.sample(1)


@ray.remote
def report_a_foreign_task(client):
    """In a Ray task: report a task outside the space, flush; return the error, then play on."""
    client.update_on_episode(1.0, 2, 99)
    try:
        client.flush()
        message = "no error"
    except TaskServerError as error:
        message = str(error)
    return message, len(client.sample(2))


def test_a_bad_request_is_refused_to_its_ray_worker_alone(ray_session):
    with TaskServer(RecordingCurriculum(), backend="ray", prefetch=0) as server:
        message, sampled = ray.get(report_a_foreign_task.remote(server.client()))
        assert "refused a request of this client" in message and "99" in message
        assert sampled == 2  # the worker goes on
        played = ray.get(play_in_task.remote(server.client(), 10, 0))
        server.flush(timeout=30)
        assert server.curriculum.metrics() == {"episodes": 10.0} and len(played) == 10  # only the good ones
        with pytest.raises(TaskServerError, match=r"0 to \d+ tasks"):
            _huge_request(server.client())


def _huge_request(client):
    client._request(10**12)  # a client that skips its own check
    client._take_reply()


# --------------------------------------------------------------- stage switches
@ray.remote(num_cpus=0.5)
def play_for(client, seconds, env_id):
    """Play episodes for ``seconds``; return ``(published version, task)`` of every reset.

    The version is the one the actor had published in shared memory just
    before the reset began: what the client could know when it sampled.
    """
    published = ray_backend._map_version_file(client._version_path)
    assert published is not None, "this worker cannot read the actor's version file"
    env = make_env(client, env_id)
    resets = []
    before = published[0]
    env.reset(seed=env_id)
    resets.append((before, env.task))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        _, _, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            before = published[0]
            env.reset()
            resets.append((before, env.task))
    env.close()
    return resets


def wait_for_the_board(client, seconds=30.0):
    """Until the VersionBoard has answered the client's watch (a message; shared memory needs no wait)."""
    deadline = time.monotonic() + seconds
    while client._watch is not None and not client._watch.done():
        assert time.monotonic() < deadline, "the VersionBoard never told the client of the change"
        time.sleep(0.01)


@pytest.mark.parametrize("channel", ["shared memory", "board"])
def test_a_stage_switch_drops_the_tasks_a_client_prefetched(ray_session, monkeypatch, channel):
    if channel == "board":  # as for a client on another node than the actor: told by the VersionBoard actor
        monkeypatch.setattr(ray_backend, "_map_version_file", lambda path, writable=False: None)
    curriculum = SequentialCurriculum([1, 2, 3], ["episodes>=2", "episodes>=1"], SPACE)
    with TaskServer(curriculum, backend="ray", prefetch=8) as server:
        client = server.client()
        assert client.sample(1) == [1]  # and 8 more of stage 0 wait in the client
        server.curriculum.update_on_episode(1.0, 1, 1)
        server.curriculum.update_on_episode(1.0, 1, 1)
        assert server.curriculum.stage == 1
        wait_for_the_board(client)
        assert client.sample(5) == [2] * 5
        # A state loaded through the proxy is a new distribution too.
        state = server.curriculum.state_dict()
        server.curriculum.update_on_episode(1.0, 1, 2)
        assert server.curriculum.stage == 2
        wait_for_the_board(client)
        assert client.sample(1) == [3]
        server.curriculum.load_state_dict(state)
        wait_for_the_board(client)
        assert client.sample(3) == [2] * 3


def test_ray_workers_never_start_an_old_stage_task_once_the_switch_is_published(ray_session):
    """At the default prefetch="auto", with one-step episodes (thousands per second per worker).

    Counted from the actor's publication of the new distribution, not from its
    decision to switch: on a loaded machine the actor can be descheduled
    between the two, and no worker can know of a switch before it is published
    (benchmarks/ray_staleness.py measures from the decision).
    """
    curriculum = SequentialCurriculum([1, 4], ["episodes>=400"], SPACE)
    with TaskServer(curriculum, backend="ray") as server:
        client = server.client()
        resets = ray.get([play_for.remote(client, 2.0, env_id) for env_id in range(4)])
        server.flush()
        assert server.curriculum.stage == 1
    assert all(any(task == 4 for _, task in worker) for worker in resets)
    stale = [sum(1 for version, task in worker if version >= 1 and task == 1) for worker in resets]
    assert stale == [0, 0, 0, 0]


# ------------------------------------------------------------------ log_metrics
class LockedWriter:
    """A TensorBoard-style writer that cannot be pickled (like SummaryWriter) and records what it got."""

    def __init__(self):
        self._lock = threading.Lock()
        self.scalars = []

    def add_scalar(self, tag, value, step=None):
        self.scalars.append((tag, value, step))


@pytest.mark.parametrize("backend", ["local", "process", "ray"])
def test_log_metrics_writes_with_the_trainers_writer_for_every_backend(ray_session, backend):
    def make():
        return SequentialCurriculum([1, [2, 3]], ["episodes>=2"], SPACE)

    reference, expected_writer = make(), LockedWriter()
    expected = reference.log_metrics(expected_writer, logs=[("mine", 1.0)], step=7, log_n_tasks=-1)
    with TaskServer(make(), backend=backend) as server:
        writer, calls = LockedWriter(), []
        items = server.curriculum.log_metrics(writer, logs=[("mine", 1.0)], step=7, log_n_tasks=-1)
        assert server.curriculum.log_metrics(lambda scalars, step: calls.append((scalars, step))) == [
            ("curriculum/" + name, value) for name, value in reference.metrics().items()
        ] + [("curriculum/task_probability/1", 1.0)]
        with pytest.raises(TypeError, match="cannot log to"):
            server.curriculum.log_metrics(object())
    assert items == expected and writer.scalars == expected_writer.scalars
    assert [step for _, step in calls] == [None] and calls[0][0] == dict(
        ("curriculum/" + name, value) for name, value in reference.metrics().items()
    ) | {"curriculum/task_probability/1": 1.0}


# --------------------------------------------------------- outside Ray workers
def test_a_ray_client_joins_the_cluster_from_spawned_vector_env_workers(ray_session):
    with TaskServer(RecordingCurriculum(), backend="ray") as server:
        client = server.client()
        envs = AsyncVectorEnv([lambda i=i: make_env(client, i) for i in range(2)], context="spawn")
        try:
            seen = tally_vector_episodes(envs, AutoresetMode.NEXT_STEP, 40)
        finally:
            envs.close()
        server.flush()
        assert server.curriculum.episode_triples() == seen
    assert sum(seen.values()) > 10


@pytest.mark.filterwarnings("ignore::UserWarning")  # gymnasium echoes the worker's traceback as a warning
def test_a_ray_client_in_a_forked_process_says_to_spawn(ray_session):
    with TaskServer(RecordingCurriculum(), backend="ray") as server:
        client = server.client()
        envs = AsyncVectorEnv([lambda: make_env(client, 0)], context="fork")
        try:
            with pytest.raises(TaskServerError, match=r"forked from a process running Ray.*context='spawn'"):
                envs.reset(seed=0)
        finally:
            envs.close(terminate=True)


# ------------------------------------------------------ curricula of user modules
def _write_module(directory, name):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(
        "from syllabus_like import DomainRandomization\n\nclass UserCurriculum(DomainRandomization):\n    pass\n"
    )


def test_a_curriculum_from_a_module_workers_cannot_import_is_pickled_by_value(ray_session, tmp_path, monkeypatch):
    name = f"user_curriculum_{uuid.uuid4().hex[:8]}"
    _write_module(tmp_path, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    try:
        with TaskServer(module.UserCurriculum(SPACE, seed=0), backend="ray") as server:
            played = ray.get(play_in_task.remote(server.client(), 5, 0))
            server.flush()
            assert len(played) == 5 and type(server.curriculum.state_dict()) is dict
    finally:
        cloudpickle.unregister_pickle_by_value(module)
        sys.modules.pop(name, None)


def test_a_curriculum_from_an_installed_module_workers_lack_names_runtime_env(ray_session, tmp_path, monkeypatch):
    name = f"user_curriculum_{uuid.uuid4().hex[:8]}"
    _write_module(tmp_path / "site-packages", name)  # looks installed: not ours to pickle by value
    monkeypatch.syspath_prepend(str(tmp_path / "site-packages"))
    module = importlib.import_module(name)
    try:
        with pytest.raises(TaskServerError, match=rf"cannot import module '{name}'.*runtime_env"):
            TaskServer(module.UserCurriculum(SPACE), backend="ray")
    finally:
        sys.modules.pop(name, None)


# ------------------------------------------------------------- actor failures
def test_failures_of_the_curriculum_actor_reach_the_trainer_as_task_server_errors(ray_session):
    server = TaskServer(RecordingCurriculum(), backend="ray")
    client = server.client()
    ray.kill(server._backend._actor, no_restart=True)
    for call in (
        lambda: server.curriculum.metrics(),
        lambda: server.curriculum.episodes,
        lambda: server.curriculum.log_metrics(LockedWriter()),
        server.flush,
        server.client,
        lambda: client.sample(1),
    ):
        with pytest.raises(TaskServerError, match="Ray actor") as caught:
            call()
        assert isinstance(caught.value.__cause__, ray.exceptions.RayActorError)
    server.close()  # logs that the actor was gone; nothing left to raise


def _construct_client(state, results):
    """In a process without Ray: build a RayClient from pickled state; put the error's text in ``results``."""
    try:
        ray_backend.RayClient(**state)
        results.put("no error")
    except TaskServerError as error:
        results.put(str(error))


def test_a_ray_client_that_cannot_find_the_cluster_fails_at_construction_saying_what_to_do(ray_session):
    import multiprocessing

    with TaskServer(RecordingCurriculum(), backend="ray") as server:
        state = server.client().__getstate__()
    state["address"] = None  # e.g. a client built by hand
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_construct_client, args=(state, results))
    process.start()
    try:
        message = results.get(timeout=120)
    finally:
        process.join(30)
    assert "not connected to Ray" in message and "ray.init(address=...)" in message
