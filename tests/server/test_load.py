"""Exactness under load: 8 workers x 500 episodes through each backend, nothing lost or duplicated."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading

import pytest
from server_support import SUPPORT_DIR, RecordingCurriculum, check_episodes_consistent, play_episodes

from syllabus_like.server import TaskServer

NUM_WORKERS = 8
NUM_EPISODES = 500

pytestmark = pytest.mark.slow


def check_exact(curriculum: RecordingCurriculum, played: list[list[tuple]]) -> None:
    expected = RecordingCurriculum.episode_triples_of([episode for episodes in played for episode in episodes])
    assert sum(expected.values()) == NUM_WORKERS * NUM_EPISODES
    assert len(curriculum.episodes) == NUM_WORKERS * NUM_EPISODES
    assert curriculum.episode_triples() == expected
    check_episodes_consistent(expected)
    per_worker = [sum(1 for episode in curriculum.episodes if episode[4] == i) for i in range(NUM_WORKERS)]
    assert per_worker == [NUM_EPISODES] * NUM_WORKERS


@pytest.mark.parametrize("prefetch", [1, 8])
def test_process_backend_under_load(prefetch):
    curriculum = RecordingCurriculum(step_updates=prefetch == 8)  # the second run also streams every step
    ctx = mp.get_context("spawn")
    with TaskServer(curriculum, backend="process", prefetch=prefetch, batch_size=64) as server:
        client = server.client()
        results = ctx.Queue()
        workers = [
            ctx.Process(target=play_episodes, args=(client, NUM_EPISODES, i, results)) for i in range(NUM_WORKERS)
        ]
        for worker in workers:
            worker.start()
        played = dict(results.get(timeout=120) for _ in workers)
        for worker in workers:
            worker.join(timeout=60)
        server.flush(timeout=60)
        check_exact(curriculum, [played[i] for i in range(NUM_WORKERS)])
        if curriculum.requires_step_updates:
            assert len(curriculum.steps) == sum(n * count for (_, n, _), count in curriculum.episode_triples().items())


def test_local_backend_under_load_from_threads():
    curriculum = RecordingCurriculum()
    with TaskServer(curriculum, backend="local") as server:
        client = server.client()
        played: dict[int, list] = {}
        threads = [
            threading.Thread(target=lambda i=i: played.__setitem__(i, play_episodes(client, NUM_EPISODES, i)))
            for i in range(NUM_WORKERS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        server.flush()
    check_exact(curriculum, [played[i] for i in range(NUM_WORKERS)])


@pytest.mark.ray
def test_ray_backend_under_load():
    import ray

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [SUPPORT_DIR, os.environ.get("PYTHONPATH")])))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        play = ray.remote(play_episodes)
        with TaskServer(RecordingCurriculum(), backend="ray") as server:  # prefetch="auto": requests vary in size
            client = server.client()
            played = ray.get([play.remote(client, NUM_EPISODES, i) for i in range(NUM_WORKERS)])
            server.flush()
            reported = server.curriculum.episodes
        curriculum = RecordingCurriculum()
        curriculum.episodes = reported
        check_exact(curriculum, played)
    finally:
        ray.shutdown()
