"""The task server's wire: report records, packed step runs, frames."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from syllabus_like import DiscreteTaskSpace
from syllabus_like.server.channel import FrameChannel
from syllabus_like.server.protocol import (
    EPISODE,
    PROGRESS,
    STEPS,
    BadRequest,
    apply_reports,
    check_request,
    pack_steps,
    unpack_steps,
)
from syllabus_like.validation import check_positive_int


class Recorder:
    def __init__(self):
        self.calls = []

    def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None):
        self.calls.append(("episode", episode_return, length, task, progress, env_id))

    def update_on_step_batch(self, steps, env_id=None):
        self.calls.append(("steps", steps, env_id))

    def update_task_progress(self, task, progress, env_id=None):
        self.calls.append(("progress", task, progress, env_id))


def steps_with(observations):
    return [
        (7, obs, 1.0, False, index == len(observations) - 1, {"i": index}, 0.5)
        for index, obs in enumerate(observations)
    ]


def test_stackable_observations_travel_as_one_array_and_come_back_as_rows():
    observations = [np.full(3, index, dtype=np.float32) for index in range(4)]
    record = pack_steps(2, steps_with(observations))
    assert record[0] == STEPS and record[1] == 2
    assert isinstance(record[3], np.ndarray) and record[3].shape == (4, 3) and record[3].dtype == np.float32
    unpacked = unpack_steps(record)
    assert len(unpacked) == 4
    for (task, obs, reward, terminated, truncated, info, progress), original in zip(
        unpacked, steps_with(observations), strict=False
    ):
        assert (task, reward, terminated, truncated, info, progress) == (original[0], *original[2:])
        assert obs.dtype == np.float32 and np.array_equal(obs, original[1])


@pytest.mark.parametrize(
    "observations",
    [
        [1, 2, 3],  # not arrays: must stay ints, not become an array
        [np.zeros(2), np.zeros(3)],  # shapes differ
        [np.zeros(2, np.float32), np.zeros(2, np.float64)],  # dtypes differ
        [np.zeros(2), [0.0, 0.0]],  # mixed types
        [{"image": np.zeros(2)}, {"image": np.ones(2)}],  # dict observations
    ],
)
def test_other_observations_travel_unchanged(observations):
    unpacked = unpack_steps(pack_steps(None, steps_with(observations)))
    for (_, obs, *_), original in zip(unpacked, observations, strict=False):
        assert type(obs) is type(original)
        if isinstance(original, np.ndarray):
            assert obs.dtype == original.dtype and np.array_equal(obs, original)
        elif isinstance(original, dict):
            assert np.array_equal(obs["image"], original["image"])
        else:
            assert obs == original


def test_reports_are_applied_in_order_and_unknown_kinds_are_named():
    recorder = Recorder()
    apply_reports(
        recorder,
        [
            (EPISODE, 3.0, 3, 1, 1.0, 4),
            pack_steps(5, steps_with([10, 11])),
            (PROGRESS, 2, 0.25, None),
        ],
    )
    assert recorder.calls[0] == ("episode", 3.0, 3, 1, 1.0, 4)
    assert recorder.calls[1][0] == "steps" and recorder.calls[1][2] == 5
    assert [step[1] for step in recorder.calls[1][1]] == [10, 11]
    assert recorder.calls[2] == ("progress", 2, 0.25, None)
    with pytest.raises(ValueError, match=r"unknown report kind 9; expected EPISODE, STEPS or PROGRESS"):
        apply_reports(recorder, [(9, "x")])


def test_positive_int_checks_name_the_option():
    assert check_positive_int("batch_size", 3) == 3
    assert check_positive_int("prefetch", 0, allow_zero=True) == 0
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        check_positive_int("batch_size", 0)
    with pytest.raises(ValueError, match="prefetch must be a non-negative int, got '2'"):
        check_positive_int("prefetch", "2", allow_zero=True)


def test_frames_survive_splitting_merging_and_large_sizes():
    left, right = socket.socketpair()
    sender, receiver = FrameChannel(left), FrameChannel(right)
    payloads = [b"", b"a", b"x" * 70_000, b"tail"]  # one frame larger than a single read
    writer = threading.Thread(target=lambda: [sender.send(payload) for payload in payloads])
    writer.start()
    received = [receiver.receive() for _ in payloads]
    writer.join()
    assert received == payloads
    # frames already sent arrive in one read and come out one by one
    for payload in (b"one", b"two", b"three"):
        sender.send(payload)
    assert receiver.read() is True
    assert [receiver.pop(), receiver.pop(), receiver.pop(), receiver.pop()] == [b"one", b"two", b"three", None]
    sender.close()
    with pytest.raises(EOFError):
        while True:
            receiver.receive()
    receiver.close()


def test_an_incomplete_frame_at_end_of_stream_is_dropped():
    left, right = socket.socketpair()
    receiver = FrameChannel(right)
    left.sendall(b"\x00\x00\x00\x00\x00\x00\x00\x10abc")  # announces 16 bytes, sends 3
    left.close()
    assert receiver.read() is True and receiver.pop() is None
    assert receiver.read() is False and receiver.pop() is None
    receiver.close()


# ------------------------------------------------------------ request checks

_SPACE = DiscreteTaskSpace(4)


@pytest.mark.parametrize(
    ("reports", "num_tasks", "message"),
    [
        ("not a list", 0, "reports must be a list"),
        ([()], 0, "non-empty tuple"),
        ([(7, 1.0)], 0, "unknown or malformed report"),
        ([(EPISODE, 1.0, 2, 9, 0.0, None)], 0, "task 9 is not in"),
        ([(EPISODE, 1.0, 2, 1, 0.0, True)], 0, "env_id must be an int or None, got True"),
        ([(EPISODE, 1.0, True, 1, 0.0, None)], 0, "length must be a non-negative int, got True"),
        ([(PROGRESS, 1, float("nan"), None)], 0, "progress must be a number in"),
        ([pack_steps(0, [(1, 0, 1.0, False, False, {}, 0.0)])[:8] + ((),)], 0, "columns differ in length"),
        ([], -1, "0 to 1048576 tasks"),
        ([], 2**40, "0 to 1048576 tasks"),
        ([], 1.0, "0 to 1048576 tasks"),
    ],
)
def test_check_request_refuses_bad_input_naming_it(reports, num_tasks, message):
    with pytest.raises(BadRequest, match=message):
        check_request(reports, num_tasks, _SPACE)


def test_check_request_canonicalises_tasks_and_keeps_nan_returns():
    steps = pack_steps(3, [(2.0, 0, 1.0, False, False, {}, 0.5), (True, 1, float("inf"), True, False, {}, 1.0)])
    checked, num_tasks = check_request([(EPISODE, float("nan"), 2, 3.0, 1.0, 0), steps], 5, _SPACE)
    assert num_tasks == 5
    episode, step_record = checked
    assert episode[3] == 3 and type(episode[3]) is int and episode[1] != episode[1]  # NaN kept
    assert step_record[2] == (2, 1) and all(type(task) is int for task in step_record[2])


def test_a_non_blocking_channel_queues_what_the_socket_cannot_take_and_never_blocks():
    left, right = socket.socketpair()
    left.setblocking(False)
    sender, receiver = FrameChannel(left), FrameChannel(right)
    payload = bytes(range(256)) * (16 * 1024)  # 4 MiB: more than a socket buffer holds
    sender.queue(payload)
    sender.queue(b"second")
    assert sender.write_some() is False and sender.outgoing_bytes > 0  # returned instead of blocking
    received = []
    while len(received) < 2:
        sender.write_some()
        receiver.read()
        while (frame := receiver.pop()) is not None:
            received.append(frame)
    assert received == [payload, b"second"] and sender.outgoing_bytes == 0 and sender.write_some()
    sender.close()
    receiver.close()


def test_a_frame_above_max_frame_is_refused_before_it_is_buffered():
    from syllabus_like.server.channel import FrameTooLarge

    left, right = socket.socketpair()
    receiver = FrameChannel(right, max_frame=256)
    left.sendall((1 << 40).to_bytes(8, "big"))
    with pytest.raises(FrameTooLarge, match="above the limit of 256"):
        receiver.read()
    left.close()
    receiver.close()
