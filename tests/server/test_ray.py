"""The "ray" backend: the curriculum in an actor, clients in Ray tasks and actors."""

from __future__ import annotations

import os
from collections import Counter

import pytest
import ray
from gymnasium.vector import AutoresetMode, SyncVectorEnv
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
from syllabus_like.server import TaskServer, TaskServerError

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
    with pytest.raises(TaskServerError, match="Ray actor is gone"):
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
