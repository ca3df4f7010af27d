"""TaskWrapper and CurriculumWrapper, in-process, alone and under SyncVectorEnv."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from syllabus_like import Curriculum, DiscreteTaskSpace, DomainRandomization, SequentialCurriculum, TaskSpaceError
from syllabus_like.wrappers import CurriculumWrapper, TaskWrapper

SPACE = DiscreteTaskSpace([2, 3, 5])


class CountdownEnv(gym.Env):
    """Episodes last ``task`` steps; reward is the task each step; completion reported at the end."""

    observation_space = gym.spaces.Box(0, 10, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self):
        self.length = 2
        self.t = 0

    def change_task(self, task):
        self.length = task

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([self.length], np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t >= self.length
        info = {"task_completion": 1.0} if done else {}
        return np.array([self.length - self.t], np.float32), float(self.length), done, False, info


class PlainEnv(CountdownEnv):
    change_task = None  # an env that cannot take tasks by itself


class LengthWrapper(TaskWrapper):
    def change_task(self, task):
        self.env.unwrapped.length = task


#: Ways a task can reach a CountdownEnv-like env: its own change_task, a TaskWrapper
#: directly inside the curriculum wrapper, or a TaskWrapper under another wrapper.
TASK_ROUTES = ["env", "task_wrapper", "nested_task_wrapper"]


def countdown_through(route: str) -> gym.Env:
    if route == "env":
        return CountdownEnv()
    task_wrapper = LengthWrapper(PlainEnv(), SPACE)
    return task_wrapper if route == "task_wrapper" else gym.Wrapper(task_wrapper)


def countdown_vector(curriculum, num_envs=3, mode=AutoresetMode.NEXT_STEP, **wrapper_options) -> SyncVectorEnv:
    """A SyncVectorEnv of CountdownEnvs, each in a CurriculumWrapper(env_id=i, **wrapper_options)."""
    return SyncVectorEnv(
        [
            lambda i=i: CurriculumWrapper(CountdownEnv(), curriculum, env_id=i, **wrapper_options)
            for i in range(num_envs)
        ],
        autoreset_mode=mode,
    )


class RecordingCurriculum(DomainRandomization):
    def __init__(self, *args, step_updates=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.episodes = []
        self.steps = []
        self.requires_step_updates = step_updates

    def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None):
        self.episodes.append((episode_return, length, task, progress, env_id))

    def update_on_step(self, task, obs, reward, terminated, truncated, info, progress=0.0, env_id=None):
        self.steps.append((task, reward, terminated))


def run(env, n_steps):
    env.reset(seed=0)
    for _ in range(n_steps):
        _, _, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            env.reset()


# ---------------------------------------------------------------- TaskWrapper


def test_task_wrapper_applies_explicit_task_and_reports_it():
    env = TaskWrapper(CountdownEnv(), SPACE)
    obs, info = env.reset(options={"task": 5})
    assert obs[0] == 5 and info["task"] == 5
    *_, info = env.step(0)
    assert info["task"] == 5
    obs, info = env.reset()  # no task option: keeps the current task
    assert obs[0] == 5 and info["task"] == 5


def test_task_wrapper_rejects_task_outside_space_before_touching_env():
    env = TaskWrapper(CountdownEnv(), SPACE)
    with pytest.raises(TaskSpaceError, match=r"task 4 is not in DiscreteTaskSpace\(\[2, 3, 5\]\)"):
        env.reset(options={"task": 4})
    assert env.unwrapped.length == 2


def test_curriculum_wrapper_rejects_an_explicit_task_outside_the_space_before_touching_env():
    env = CurriculumWrapper(TaskWrapper(CountdownEnv(), SPACE), DomainRandomization(SPACE, seed=0))
    env.reset(options={"task": 3})
    with pytest.raises(TaskSpaceError, match=r"task 4 is not in DiscreteTaskSpace\(\[2, 3, 5\]\)"):
        env.reset(options={"task": 4})
    assert env.unwrapped.length == 3 and env.task == 3


def test_curriculum_wrapper_rejects_a_curriculum_task_outside_the_wrapped_space():
    other = DiscreteTaskSpace([7])
    env = CurriculumWrapper(TaskWrapper(CountdownEnv(), SPACE), DomainRandomization(other, seed=0))
    with pytest.raises(TaskSpaceError, match=r"task 7 is not in DiscreteTaskSpace\(\[2, 3, 5\]\)"):
        env.reset()


def test_task_wrapper_subclass_overrides_change_task():
    env = LengthWrapper(PlainEnv(), SPACE)
    obs, _ = env.reset(options={"task": 3})
    assert obs[0] == 3


def test_curriculum_wrapper_calls_a_task_wrapper_subclass_reset_and_step():
    calls = []

    class CountingWrapper(LengthWrapper):
        def reset(self, **kwargs):
            calls.append("reset")
            return super().reset(**kwargs)

        def step(self, action):
            calls.append("step")
            return super().step(action)

    env = CurriculumWrapper(CountingWrapper(CountdownEnv(), SPACE), DomainRandomization(SPACE, seed=0))
    env.reset(seed=0)
    env.step(0)
    assert calls == ["reset", "step"]
    assert env.task == env.env.task in SPACE


def test_task_wrapper_without_change_task_explains():
    env = TaskWrapper(PlainEnv(), SPACE)
    with pytest.raises(NotImplementedError, match="subclass TaskWrapper and override change_task"):
        env.reset(options={"task": 3})
    with pytest.raises(TypeError, match="must be a TaskSpace"):
        TaskWrapper(CountdownEnv(), [2, 3])


# ---------------------------------------------------------- CurriculumWrapper


@pytest.mark.parametrize("through_task_wrapper", [True, False])
def test_curriculum_wrapper_samples_at_reset_and_reports_episodes(through_task_wrapper):
    curriculum = RecordingCurriculum(SPACE, seed=1)
    inner = LengthWrapper(PlainEnv(), SPACE) if through_task_wrapper else CountdownEnv()
    env = CurriculumWrapper(inner, curriculum, env_id=7)
    run(env, 200)
    assert len(curriculum.episodes) > 30
    for episode_return, length, task, progress, env_id in curriculum.episodes:
        assert length == task and episode_return == task * task
        assert progress == 1.0 and env_id == 7
    assert {task for _, _, task, _, _ in curriculum.episodes} == {2, 3, 5}
    assert curriculum.steps == []  # no step updates unless requested


def test_explicit_task_option_wins():
    curriculum = RecordingCurriculum(DiscreteTaskSpace([2]), seed=1)  # would always say 2
    env = CurriculumWrapper(TaskWrapper(CountdownEnv(), SPACE), curriculum)
    obs, _ = env.reset(options={"task": 5})
    assert obs[0] == 5 and env.task == 5
    for _ in range(5):
        env.step(0)
    assert curriculum.episodes == [(25.0, 5, 5, 1.0, None)]


@pytest.mark.parametrize("route", TASK_ROUTES)
def test_reset_passes_seed_and_the_other_options_to_the_env(route):
    received = []

    class OptionsEnv(CountdownEnv):
        def reset(self, *, seed=None, options=None):
            received.append((seed, options))
            return super().reset(seed=seed, options=options)

    inner = OptionsEnv() if route == "env" else LengthWrapper(OptionsEnv(), SPACE)
    env = CurriculumWrapper(gym.Wrapper(inner) if route == "nested_task_wrapper" else inner, DomainRandomization(SPACE))
    obs, _ = env.reset(seed=4, options={"task": 5, "level": "hard"})
    env.reset(options={"task": 3})
    assert received == [(4, {"level": "hard"}), (None, None)]
    assert obs[0] == 5 and env.task == 3 and env.unwrapped.length == 3


def test_step_updates_only_when_requested():
    curriculum = RecordingCurriculum(SPACE, seed=2, step_updates=True)
    env = CurriculumWrapper(CountdownEnv(), curriculum)
    run(env, 30)
    assert len(curriculum.steps) == 30
    assert sum(terminated for _, _, terminated in curriculum.steps) == len(curriculum.episodes)


def test_abandoned_episode_is_not_reported():
    curriculum = RecordingCurriculum(DiscreteTaskSpace([5]), seed=0)
    env = CurriculumWrapper(CountdownEnv(), curriculum)
    env.reset()
    env.step(0)
    env.reset()
    for _ in range(5):
        env.step(0)
    assert curriculum.episodes == [(25.0, 5, 5, 1.0, None)]


def test_curriculum_wrapper_rejects_bad_sources_and_envs():
    with pytest.raises(TypeError, match="lacks"):
        CurriculumWrapper(CountdownEnv(), object())
    with pytest.raises(
        TypeError, match=r"^CurriculumWrapper needs a Curriculum or a task-server client; .* lacks \['update_on_step'\]"
    ):
        CurriculumWrapper(CountdownEnv(), type("NoStepUpdates", (), {"sample": len, "update_on_episode": len})())
    with pytest.raises(TypeError, match="wrap it in a TaskWrapper"):
        CurriculumWrapper(PlainEnv(), DomainRandomization(SPACE))


def test_sequential_curriculum_drives_env_through_stages():
    curriculum = SequentialCurriculum([2, 3, 5], ["episodes>=4", "episodes>=4"], SPACE)
    env = CurriculumWrapper(CountdownEnv(), curriculum, task_info="reset")
    seen = []
    _, info = env.reset()
    for _ in range(60):
        _, _, terminated, _, _ = env.step(0)
        if terminated:
            seen.append(info["task"])  # the task is in reset infos (task_info="reset")
            _, info = env.reset()
    assert seen[:4] == [2] * 4 and seen[4:8] == [3] * 4 and set(seen[8:]) == {5}
    assert curriculum.stage == 2


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED])
def test_sync_vector_env_in_every_autoreset_mode(mode):
    curriculum = RecordingCurriculum(SPACE, seed=3)
    envs = countdown_vector(curriculum, num_envs=4, mode=mode)
    envs.reset(seed=0)
    finished = 0
    for _ in range(100):
        _, rewards, terminated, truncated, infos = envs.step(np.zeros(4, dtype=np.int64))
        done = terminated | truncated
        finished += int(done.sum())
        if mode == AutoresetMode.DISABLED and done.any():
            envs.reset(options={"reset_mask": done})
    envs.close()
    assert len(curriculum.episodes) == finished
    assert {env_id for *_, env_id in curriculum.episodes} == {0, 1, 2, 3}
    for episode_return, length, task, progress, _ in curriculum.episodes:
        assert length == task and episode_return == task * task and progress == 1.0


class FailingCurriculum(Curriculum):
    def _sample(self, k):
        raise RuntimeError("curriculum exploded")


def test_curriculum_errors_propagate_to_the_caller():
    env = CurriculumWrapper(CountdownEnv(), FailingCurriculum(SPACE))
    with pytest.raises(RuntimeError, match="curriculum exploded"):
        env.reset()


# ------------------------------------------------------------------ task_info


def test_task_info_every_step_puts_the_task_in_every_info():
    curriculum = RecordingCurriculum(SPACE, seed=2)
    env = CurriculumWrapper(CountdownEnv(), curriculum, task_info="every_step")
    assert env.task_info == "every_step"
    for _ in range(3):
        _, info = env.reset()
        task = info["task"]
        terminated = False
        while not terminated:
            _, _, terminated, _, info = env.step(0)
            assert info["task"] == task == env.task


def test_task_info_defaults_to_leaving_infos_alone():
    env = CurriculumWrapper(CountdownEnv(), DomainRandomization(SPACE, seed=0))
    assert env.task_info == "none"
    _, info = env.reset()
    assert "task" not in info and env.task in SPACE
    assert "task" not in env.step(0)[4]


@pytest.mark.parametrize("route", TASK_ROUTES)
def test_task_info_reset_keeps_the_task_out_of_step_infos(route):
    base = countdown_through(route)
    curriculum = RecordingCurriculum(SPACE, seed=1)
    env = CurriculumWrapper(base, curriculum, task_info="reset")
    assert env.task_info == "reset"
    _, info = env.reset(seed=0)
    task = info["task"]
    steps = 0
    terminated = False
    while not terminated:
        _, _, terminated, _, info = env.step(0)
        steps += 1
        assert "task" not in info
    assert steps == task and env.task == task
    assert curriculum.episodes == [(task * task, task, task, 1.0, None)]


def test_task_info_reset_in_a_vector_env_marks_each_new_task():
    curriculum = RecordingCurriculum(SPACE, seed=5)
    envs = countdown_vector(curriculum, task_info="reset")
    _, infos = envs.reset(seed=0)
    current = list(infos["task"])
    for _ in range(30):
        _, _, _, _, infos = envs.step(np.zeros(3, dtype=np.int64))
        if "task" in infos:  # only on steps where some sub-env reset
            for index in np.flatnonzero(infos["_task"]):
                current[index] = infos["task"][index]
        assert current == list(envs.get_attr("task"))
    assert len(curriculum.episodes) > 5
    envs.close()


@pytest.mark.parametrize("route", TASK_ROUTES)
def test_task_info_none_keeps_the_task_out_of_every_info(route):
    base = countdown_through(route)
    curriculum = RecordingCurriculum(SPACE, seed=3)
    env = CurriculumWrapper(base, curriculum, task_info="none")
    assert env.task_info == "none"
    for _ in range(3):
        _, info = env.reset()
        assert "task" not in info
        task, terminated, steps = env.task, False, 0
        while not terminated:
            _, _, terminated, _, info = env.step(0)
            assert "task" not in info
            steps += 1
        assert steps == task
    assert [episode[2] for episode in curriculum.episodes] == [episode[1] for episode in curriculum.episodes]
    assert len(curriculum.episodes) == 3


def test_task_info_none_in_a_vector_env_leaves_infos_alone():
    curriculum = RecordingCurriculum(SPACE, seed=5)
    envs = countdown_vector(curriculum, task_info="none")
    _, infos = envs.reset(seed=0)
    assert "task" not in infos
    for _ in range(30):
        _, _, _, _, infos = envs.step(np.zeros(3, dtype=np.int64))
        assert "task" not in infos
    assert len(curriculum.episodes) > 5
    envs.close()


def test_task_info_rejects_unknown_modes():
    with pytest.raises(ValueError, match="task_info must be one of .*'every_step', 'reset', 'none'.*got 'never'"):
        CurriculumWrapper(CountdownEnv(), DomainRandomization(SPACE), task_info="never")


# ---------------------------------------------------------------- composition


def test_a_task_source_is_a_protocol_and_its_flag_is_checked_at_construction():
    from syllabus_like.wrappers.task_source import ClosableTaskSource, TaskSource

    assert isinstance(DomainRandomization(SPACE), TaskSource)
    assert not isinstance(DomainRandomization(SPACE), ClosableTaskSource)  # a curriculum holds nothing to close
    source = type("NoFlag", (), {"sample": len, "update_on_episode": len, "update_on_step": len})()
    assert not isinstance(source, TaskSource)
    with pytest.raises(TypeError, match=r"^CurriculumWrapper needs a Curriculum .* lacks \['requires_step_updates'\]"):
        CurriculumWrapper(CountdownEnv(), source)


class CountingTaskWrapper(TaskWrapper):
    """A TaskWrapper whose own step and reset must run: it counts them and marks the info."""

    def __init__(self, env, task_space, **kwargs):
        super().__init__(env, task_space, **kwargs)
        self.steps = self.resets = 0

    def reset(self, **kwargs):
        self.resets += 1
        return super().reset(**kwargs)

    def step(self, action):
        self.steps += 1
        obs, reward, terminated, truncated, info = super().step(action)
        info["inner_stepped"] = True
        return obs, reward, terminated, truncated, info


@pytest.mark.parametrize("tags_infos", [True, False])
@pytest.mark.parametrize("task_info", ["none", "reset", "every_step"])
def test_a_curriculum_wrapper_steps_through_its_task_wrapper_and_leaves_its_settings(tags_infos, task_info):
    inner = CountingTaskWrapper(CountdownEnv(), SPACE, tags_infos=tags_infos)
    env = CurriculumWrapper(inner, DomainRandomization(SPACE, seed=3), task_info=task_info)
    _, info = env.reset(seed=0)
    assert ("task" in info) == (task_info != "none") and inner.resets == 1
    terminated, steps = False, 0
    while not terminated:
        _, _, terminated, _, info = env.step(0)
        steps += 1
        assert info["inner_stepped"] and ("task" in info) == (task_info == "every_step")
    assert inner.steps == steps == env.task
    assert inner.tags_infos is tags_infos  # the outer wrapper never writes the inner one's flag
    # The inner wrapper alone still does what it was built to do.
    _, info = inner.reset(options={"task": 3})
    assert ("task" in info) is tags_infos


def test_task_wrapper_rejects_a_non_bool_tags_infos():
    with pytest.raises(TypeError, match="tags_infos must be True or False, got 'yes'"):
        TaskWrapper(CountdownEnv(), SPACE, tags_infos="yes")


def test_a_task_wrapper_without_info_tags_steps_like_its_env_and_still_applies_tasks():
    inner = CountdownEnv()
    env = TaskWrapper(inner, SPACE, tags_infos=False)
    assert env.step == inner.step  # nothing added to a step: the env's own step
    outer = CurriculumWrapper(env, DomainRandomization(SPACE, seed=1))
    outer.reset(seed=0)
    terminated, steps = False, 0
    while not terminated:
        _, _, terminated, _, info = outer.step(0)
        steps += 1
        assert "task" not in info
    assert steps == outer.task == env.task
