"""TaskServer: the facade, bad input, and the "local" backend."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from server_support import (
    SPACE,
    CurriculumBoom,
    RecordingCurriculum,
    check_episodes_consistent,
    make_env,
    play_episodes,
    tally_vector_episodes,
)

from syllabus_like import Constant, SequentialCurriculum
from syllabus_like.server import BACKENDS, TaskServer, TaskServerError
from syllabus_like.wrappers import CurriculumWrapper

# ------------------------------------------------------------------ bad input


def test_bad_curriculum_and_backend_are_rejected_with_what_was_given():
    with pytest.raises(TypeError, match=r"needs a Curriculum .* got \[1, 2\]"):
        TaskServer([1, 2])
    with pytest.raises(
        ValueError, match=r"unknown task-server backend 'zmq'; expected one of 'local', 'process', 'ray'"
    ):
        TaskServer(RecordingCurriculum(), backend="zmq")
    assert BACKENDS == ("local", "process", "ray")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"prefetch": -1}, r"prefetch must be a non-negative int or .auto., got -1"),
        ({"prefetch": 1.5}, r"prefetch must be a non-negative int or .auto., got 1.5"),
        ({"prefetch": "fast"}, r"prefetch must be a non-negative int or .auto., got .fast."),
        ({"batch_size": 0}, r"batch_size must be a positive int, got 0"),
        ({"batch_size": True}, r"batch_size must be a positive int, got True"),
        ({"timeout": 0}, r"timeout must be a positive number of seconds or None, got 0"),
        ({"ray_actor_options": {"num_cpus": 1}}, r"ray_actor_options only applies to backend='ray', not 'local'"),
    ],
)
def test_bad_options_are_rejected_at_construction(options, message):
    with pytest.raises(ValueError, match=message):
        TaskServer(RecordingCurriculum(), **options)


def test_ray_actor_options_must_be_a_dict():
    with pytest.raises(TypeError, match=r"ray_actor_options must be a dict of Ray actor options, got \['num_cpus'\]"):
        TaskServer(RecordingCurriculum(), backend="ray", ray_actor_options=["num_cpus"])


def test_importing_the_server_and_using_local_and_process_backends_needs_no_ray():
    code = (
        "import sys\n"
        "from syllabus_like import DiscreteTaskSpace, DomainRandomization\n"
        "from syllabus_like.server import TaskServer\n"
        "for backend in ('local', 'process'):\n"
        "    with TaskServer(DomainRandomization(DiscreteTaskSpace(3)), backend=backend) as server:\n"
        "        server.client().sample(2)\n"
        "print(sorted(m for m in ('ray', 'jax', 'torch') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]"


def test_bad_client_options_and_calls_are_rejected():
    with TaskServer(RecordingCurriculum()) as server:
        with pytest.raises(ValueError, match=r"prefetch must be a non-negative int or .auto., got .many."):
            server.client(prefetch="many")
        with pytest.raises(ValueError, match=r"timeout must be a non-negative number of seconds or None, got -1"):
            server.flush(timeout=-1)
        client = server.client()
        with pytest.raises(ValueError, match=r"sample\(k\) needs a non-negative int k, got -1"):
            client.sample(-1)


# ---------------------------------------------------------------- the facade


def test_context_manager_closes_and_close_is_idempotent():
    with TaskServer(RecordingCurriculum()) as server:
        assert server.backend == "local" and not server.closed
        client = server.client()
        assert len(client.sample(3)) == 3
    assert server.closed
    server.close()  # again: nothing happens
    with pytest.raises(TaskServerError, match="closed"):
        server.client()
    with pytest.raises(TaskServerError, match="closed"):
        client.sample(1)
    assert "closed" in repr(server)


def test_server_views_and_local_clients_refuse_pickling_with_a_hint():
    with TaskServer(RecordingCurriculum()) as server:
        with pytest.raises(TypeError, match="give environments and workers server.client"):
            pickle.dumps(server)
        with pytest.raises(TypeError, match="give workers server.client"):
            pickle.dumps(server.curriculum)
        with pytest.raises(TypeError, match="backend='process'"):
            pickle.dumps(server.client())


def test_exception_in_with_block_is_not_hidden_by_close():
    with pytest.raises(KeyError, match="from the body"), TaskServer(RecordingCurriculum()):
        raise KeyError("from the body")


# ------------------------------------------------------------- local backend


def test_local_client_feeds_a_curriculum_wrapper_exactly():
    curriculum = RecordingCurriculum()
    with TaskServer(curriculum) as server:
        played = play_episodes(server.client(), 200, env_id=3)
        server.flush()
    assert len(played) == 200
    assert curriculum.episode_triples() == RecordingCurriculum.episode_triples_of(played)
    assert {env_id for *_, env_id in curriculum.episodes} == {3}
    assert all(progress == 1.0 for _, _, _, progress, _ in curriculum.episodes)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED])
def test_local_backend_under_sync_vector_env_in_every_autoreset_mode(mode):
    curriculum = RecordingCurriculum()
    with TaskServer(curriculum, backend="local") as server:
        client = server.client()
        envs = SyncVectorEnv([lambda i=i: make_env(client, i) for i in range(4)], autoreset_mode=mode)
        seen = tally_vector_episodes(envs, mode, num_steps=300)
        envs.close()
        server.flush()
    assert sum(seen.values()) > 100
    check_episodes_consistent(seen)
    assert curriculum.episode_triples() == seen
    assert {env_id for *_, env_id in curriculum.episodes} == {0, 1, 2, 3}


def test_local_client_step_updates_follow_requires_step_updates():
    curriculum = RecordingCurriculum(step_updates=False)
    with TaskServer(curriculum) as server:
        client = server.client()
        play_episodes(client, 5, env_id=0)
        assert curriculum.steps == []
        server.curriculum.requires_step_updates = True  # through the locked view
        assert client.requires_step_updates
        played = play_episodes(client, 5, env_id=1)
    assert len(curriculum.steps) == sum(length for _, length, _ in played)
    assert sum(terminated for *_, terminated, _, _, _ in curriculum.steps) == 5


def test_local_client_is_thread_safe_and_serialized_with_the_training_loop():
    curriculum = RecordingCurriculum(guard=True)
    with TaskServer(curriculum) as server:
        client = server.client()
        results = []
        threads = [
            threading.Thread(target=lambda i=i: results.append(play_episodes(client, 60, env_id=i))) for i in range(4)
        ]
        for thread in threads:
            thread.start()
        learner_calls = 0
        while any(thread.is_alive() for thread in threads):
            server.curriculum.metrics()  # the training loop reading the curriculum meanwhile
            learner_calls += 1
        for thread in threads:
            thread.join()
    assert learner_calls > 0
    assert curriculum.overlaps == 0
    assert len(curriculum.episodes) == 240
    assert curriculum.episode_triples() == RecordingCurriculum.episode_triples_of(
        [episode for played in results for episode in played]
    )


def test_the_overlap_detector_sees_unguarded_concurrent_calls():
    # Without the server's lock the same workload does overlap: the guard test above can fail.
    curriculum = RecordingCurriculum(guard=True)
    threads = [threading.Thread(target=play_episodes, args=(curriculum, 60, i)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert curriculum.overlaps > 0


def test_local_errors_reach_the_caller_directly():
    with TaskServer(RecordingCurriculum(fail_on_sample=2)) as server:
        env = make_env(server.client())
        env.reset()
        with pytest.raises(CurriculumBoom, match="sample exploded"):
            env.reset()


def test_locked_view_forwards_methods_and_attributes():
    curriculum = SequentialCurriculum([1, [2, 3]], ["episodes>=2"], SPACE)
    with TaskServer(curriculum) as server:
        view = server.curriculum
        assert view.stage == 0 and view.num_stages == 2
        client = server.client()
        client.update_on_episode(1.0, 1, 1)
        assert view.stage == 0 and view.check_stopping_conditions() is False
        client.update_on_episode(1.0, 1, 1)  # the condition holds: the curriculum moves on
        assert view.stage == 1
        assert set(client.sample(20)) <= {2, 3}
        np.testing.assert_allclose(view.probabilities(), [0, 0.5, 0.5, 0])
        assert "stage" in dir(view)
        assert "SequentialCurriculum" in repr(view)


def test_curriculum_wrapper_accepts_the_client_and_the_locked_view():
    with TaskServer(Constant(SPACE, 3)) as server:
        for source in (server.client(), server.curriculum):
            env = CurriculumWrapper(make_env(source).env, source)
            env.reset()
            assert env.task == 3


def test_every_backend_follows_the_backend_protocol_and_options_are_checked_once():
    from syllabus_like.server.backend import Backend
    from syllabus_like.server.options import ClientOptions

    for backend in ("local", "process"):
        with TaskServer(RecordingCurriculum(), backend=backend) as server:
            assert isinstance(server._backend, Backend)
            with pytest.raises(ValueError, match=r"prefetch must be a non-negative int or .auto., got -1"):
                server.client(prefetch=-1)  # checked for the local backend too, by the same code
    assert ClientOptions(prefetch=3).overridden(batch_size=7) == ClientOptions(prefetch=3, batch_size=7)
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds or None, got -1"):
        ClientOptions(timeout=-1)
