"""How a remote client batches its requests: fixed prefetch and prefetch="auto", over an in-memory transport."""

from __future__ import annotations

from collections import deque

import pytest
from server_support import RecordingCurriculum

from syllabus_like.server.client import AUTO_PREFETCH_MAX, AUTO_PREFETCH_SECONDS, BufferedClient
from syllabus_like.server.protocol import EPISODE, apply_reports
from syllabus_like.validation import check_prefetch


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class InMemoryClient(BufferedClient):
    """Serves requests straight from a curriculum and records each request's size."""

    def __init__(self, curriculum, clock: FakeClock, reply_seconds: float = 0.0, **options) -> None:
        self.curriculum = curriculum
        self.clock = clock
        self.reply_seconds = reply_seconds  # how long waiting for a reply takes
        self.requests: list[tuple[int, int]] = []  # (episode reports, tasks asked for)
        self._replies: deque = deque()
        super().__init__(batch_size=10_000, requires_step_updates=False, **options)

    def _send(self, reports, num_tasks, wants_reply):
        apply_reports(self.curriculum, reports)
        self.requests.append((sum(report[0] == EPISODE for report in reports), num_tasks))
        if wants_reply:
            self._replies.append((True, self.curriculum.sample(num_tasks) if num_tasks else [], False))

    def _receive_reply(self):
        self.clock.now += self.reply_seconds
        return self._replies.popleft()


def play(client: InMemoryClient, clock: FakeClock, episodes: int, seconds_per_episode: float) -> None:
    """Reset, advance the clock by one episode, report it; ``episodes`` times."""
    for _ in range(episodes):
        (task,) = client.sample(1)
        clock.now += seconds_per_episode
        client.update_on_episode(1.0, 10, task)


def tasks_asked(client: InMemoryClient, last: int) -> list[int]:
    return [asked for _, asked in client.requests[-last:]]


def test_fixed_prefetch_sends_one_request_per_prefetch_episodes():
    clock = FakeClock()
    curriculum = RecordingCurriculum()
    client = InMemoryClient(curriculum, clock, prefetch=8)
    play(client, clock, 80, seconds_per_episode=0.001)
    assert len(client.requests) == 11  # the first request, then one per 8 episodes
    assert set(tasks_asked(client, 10)) == {8}
    client.flush()
    assert sum(episodes for episodes, _ in client.requests) == 80


@pytest.mark.parametrize(
    "seconds_per_episode, expected",
    [
        (2.0, 1),  # slower than the horizon: one task per request, freshly sampled
        (AUTO_PREFETCH_SECONDS / 20, 20),
        (AUTO_PREFETCH_SECONDS / 1000, AUTO_PREFETCH_MAX),  # capped
    ],
)
def test_auto_prefetch_asks_for_about_a_horizon_of_tasks(seconds_per_episode, expected):
    clock = FakeClock()
    curriculum = RecordingCurriculum()
    client = InMemoryClient(curriculum, clock, prefetch="auto")
    play(client, clock, 3000, seconds_per_episode)
    assert abs(tasks_asked(client, 1)[0] - expected) <= max(1, expected // 20)
    client.flush()
    assert sum(episodes for episodes, _ in client.requests) == 3000
    assert len(curriculum.episodes) == 3000


def test_auto_prefetch_follows_a_change_of_pace():
    clock = FakeClock()
    client = InMemoryClient(RecordingCurriculum(), clock, prefetch="auto")
    play(client, clock, 400, seconds_per_episode=AUTO_PREFETCH_SECONDS / 50)
    fast = tasks_asked(client, 1)[0]
    play(client, clock, 400, seconds_per_episode=AUTO_PREFETCH_SECONDS * 5)
    slow = tasks_asked(client, 1)[0]
    assert fast >= 45 and slow == 1


def test_auto_prefetch_leaves_waits_for_the_server_out_of_the_pace():
    clock = FakeClock()
    client = InMemoryClient(RecordingCurriculum(), clock, reply_seconds=0.5, prefetch="auto")
    play(client, clock, 2000, seconds_per_episode=AUTO_PREFETCH_SECONDS / 100)
    # Were the half-second waits counted as the env's pace, requests would shrink to one task each.
    assert abs(tasks_asked(client, 1)[0] - 100) <= 5


def test_auto_prefetch_starts_like_prefetch_one():
    clock = FakeClock()
    auto = InMemoryClient(RecordingCurriculum(), clock, prefetch="auto")
    one = InMemoryClient(RecordingCurriculum(), clock, prefetch=1)
    for client in (auto, one):
        client.sample(1)
    assert auto.requests == one.requests == [(0, 2)]  # no pace known yet: the task needed now and one ahead


def test_check_prefetch_accepts_counts_and_auto_only():
    assert check_prefetch(0) == 0 and check_prefetch(5) == 5 and check_prefetch("auto") == "auto"
    for bad in (-1, 2.0, True, "Auto", None):
        with pytest.raises(ValueError, match=rf"prefetch must be a non-negative int or 'auto', got {bad!r}"):
            check_prefetch(bad)


def test_auto_pace_ignores_empty_draws_and_never_goes_negative():
    clock = FakeClock()
    client = InMemoryClient(RecordingCurriculum(), clock, prefetch="auto")
    play(client, clock, 5, seconds_per_episode=0.01)
    pace, last_handout = client._seconds_per_task, client._last_handout
    clock.now += 3.0
    assert client.sample(0) == []  # no handout: neither a pace reading nor a new starting point
    assert (client._seconds_per_task, client._last_handout) == (pace, last_handout)
    client._note_handout(1, asked_at=last_handout - 1.0)  # asked before the last handout (another thread)
    assert client._seconds_per_task == pytest.approx(pace * 0.9)  # a zero interval in the running mean
