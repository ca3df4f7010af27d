"""What the task server costs per environment step.

Random-action CartPole is the worst case for a curriculum library: a step
takes microseconds and a random episode lasts about 22 steps, so per-step and
per-episode overheads show up in full. Every section runs the bare gymnasium
setup and the same setup through our wrappers in this one process, in
alternating timed rounds (so a change in the machine's load hits both), and
prints env-steps/s and the ratio ours / bare as the median of the per-round
ratios, with their spread.

"Ours" is ``CurriculumWrapper(CartPoleTask(env, tags_infos=False), client)``: a TaskWrapper that
applies each task (CartPole's push force, one of 9.5 / 10.0 / 10.5 N) at reset,
fed by a DomainRandomization curriculum through a TaskServer client.

By default our wrappers leave infos as the env gives them (the task is read
with ``env.task``, or ``envs.get_attr("task")`` in a vector env).
Gymnasium's vector envs aggregate every info key of every sub-env on every
step, which costs a microsecond or two for each sub-env info holding the key,
whatever the key is. The "task in reset infos" variants use
``CurriculumWrapper(..., task_info="reset")`` (in a vector env the task then
arrives on the step where a sub-env autoresets, so a training loop knows
which task each sub-env plays) and pay that once per episode; the "task
every step" variants use ``task_info="every_step"`` and pay it on every step.
"bare+key" is the bare env with one such key in every step and nothing else,
so "ours, task every step / bare+key" is the price of the task server and
the wrappers alone; the sync section's "bare+key at reset" has the key in
reset infos only. The sync section also times the bare env inside one
do-nothing ``gym.Wrapper``: the floor for any wrapper around each sub-env;
and, as the floor for any per-env *curriculum* wrapper, a
:class:`LeastCurriculumWrapper` (draw a task and set it at reset, sum the
return and length, report them at the episode's end: nothing else) fed by a
no-op curriculum, by DomainRandomization and by the same SequentialCurriculum,
each called directly: what the curriculum's own work costs inside the loop,
whatever the wrapper and the task server around it.

Sections:

1. SyncVectorEnv, 8 envs, ``backend="local"``. Everything runs in this one
   thread, so it also prints the ratios of process CPU time, which a busy
   neighbour on a shared machine disturbs less than wall time;
2. AsyncVectorEnv, 4 and 8 envs, ``backend="process"`` at the default
   prefetch of 1 (one message per episode and worker) and at prefetch 4; also
   with a curriculum that requests step updates (every step's results stream
   to the trainer). On Linux it also prints the CPU time per env step of the
   trainer process (including the server's threads) and of the workers, which
   varies less than throughput when other work shares the machine;
3. Ray: 4 Ray tasks each stepping one env, ``backend="ray"`` at its default
   ``prefetch="auto"`` and at prefetch 1, 16 and 64, against the same tasks stepping the bare env (at most 5 rounds:
   prefetch 1 is slow), in the steady state of the workers' stepping loops
   and end to end (see :func:`ray_workers`). A Ray actor call costs far more
   than a socket message, so with envs this fast Ray needs a large prefetch;
4. syllabus-rl, when it is installed (``pip install syllabus-rl matplotlib
   torch==2.13.0``): bare, ours and syllabus-rl 0.7's multiprocessing path
   (``make_multiprocessing_curriculum`` + ``GymnasiumSyncWrapper``) in the
   same rounds, with SyncVectorEnv (8 envs) and AsyncVectorEnv (4 and 8
   envs); otherwise the script says it is not installed and prints the
   issue's reference figures.

Usage: ``python benchmarks/server_overhead.py [--rounds N] [--sections sync,async,ray,syllabus-rl]``.
A full run takes a few minutes (the Ray section most of it).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv

from syllabus_like import DiscreteTaskSpace, DomainRandomization, SequentialCurriculum
from syllabus_like.server import TaskServer
from syllabus_like.wrappers import CurriculumWrapper, TaskWrapper

FORCES = DiscreteTaskSpace([9.5, 10.0, 10.5])
SECTIONS = ("sync", "async", "ray", "syllabus-rl")


class CartPoleTask(TaskWrapper):
    """Applies a task to CartPole: the push force in newtons."""

    def change_task(self, task: float) -> None:
        self.env.unwrapped.force_mag = task


class TaskKeyAtReset(gym.Wrapper):
    """The bare env plus ``info["task"]`` in reset infos: what gymnasium's info aggregation costs per episode."""

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        info["task"] = 10.0
        return obs, info


class TaskKeyOnly(TaskKeyAtReset):
    """The bare env plus ``info["task"]`` on every step: isolates gymnasium's info aggregation."""

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["task"] = 10.0
        return obs, reward, terminated, truncated, info


class StepUpdatesDomainRandomization(DomainRandomization):
    """Uniform tasks, but asks for every step's results (the expensive path)."""

    requires_step_updates = True

    def update_on_step(self, task, obs, reward, terminated, truncated, info, progress=0.0, env_id=None) -> None:
        pass


class LeastCurriculumWrapper(gym.Wrapper):
    """The least work any per-env curriculum wrapper does, as a floor to compare ours with.

    At reset it draws a task and sets CartPole's force; at every step it sums
    the return and counts the length; at an episode's end it reports both.
    Nothing else: no validation, no reset options, no evaluation mode, no
    progress or info handling, no task server. Not a usable wrapper, only the
    measure of what a wrapper design could save at best.
    """

    def __init__(self, env: gym.Env, sample: Callable[[int], list], report: Callable[..., None]) -> None:
        super().__init__(env)
        self._sample = sample
        self._report = report
        self._task = 10.0
        self._episode_return = 0.0
        self._episode_length = 0

    def reset(self, **kwargs: Any):
        self._task = self._sample(1)[0]
        self.env.unwrapped.force_mag = self._task
        self._episode_return = 0.0
        self._episode_length = 0
        return self.env.reset(**kwargs)

    def step(self, action: Any):
        result = self.env.step(action)
        self._episode_return += float(result[1])
        self._episode_length += 1
        if result[2] or result[3]:
            self._report(self._episode_return, self._episode_length, self._task)
        return result


def make_least(sample: Callable[[int], list], report: Callable[..., None]) -> Callable[[], gym.Env]:
    return lambda: LeastCurriculumWrapper(gym.make("CartPole-v1"), sample, report)


def make_bare() -> gym.Env:
    return gym.make("CartPole-v1")


def make_key_only() -> gym.Env:
    return TaskKeyOnly(gym.make("CartPole-v1"))


def make_key_at_reset() -> gym.Env:
    return TaskKeyAtReset(gym.make("CartPole-v1"))


def make_ours(client: Any, task_info: str | None = None) -> Callable[[], gym.Env]:
    """A maker of our wrapped CartPole; ``task_info=None`` keeps the wrapper's default."""
    options = {} if task_info is None else {"task_info": task_info}

    def make() -> gym.Env:
        return CurriculumWrapper(CartPoleTask(gym.make("CartPole-v1"), FORCES, tags_infos=False), client, **options)

    return make


# ------------------------------------------------------------------ timing
def timed_vector_steps(envs: gym.vector.VectorEnv, actions: np.ndarray) -> tuple[float, float]:
    """Step ``envs`` through ``actions``; return (env-steps per second, mean episode length)."""
    start = time.perf_counter()
    episodes = 0
    for action in actions:
        _, _, terminated, truncated, _ = envs.step(action)
        episodes += int(np.count_nonzero(terminated | truncated))
    elapsed = time.perf_counter() - start
    env_steps = actions.shape[0] * actions.shape[1]
    return env_steps / elapsed, env_steps / max(episodes, 1)


def compare(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each variant once per round, in alternating order; return steps/s per variant and round."""
    results: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_index in range(rounds):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            results[name].append(variants[name]())
    return results


def report(title: str, results: dict[str, list[float]], baseline: str = "bare", extra: str = "") -> None:
    print(f"\n{title}{extra}")
    print(f"  {'variant':<44}{'steps/s (median)':>18}{'ratio to ' + baseline:>18}{'spread of ratio':>22}")
    base = results[baseline]
    for name, values in results.items():
        ratios = [value / reference for value, reference in zip(values, base, strict=False)]
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratios[0]] * 3
        print(
            f"  {name:<44}{statistics.median(values):>18,.0f}{statistics.median(ratios):>18.3f}"
            f"{f'{quartiles[0]:.3f} .. {quartiles[2]:.3f}':>22}"
        )


# ---------------------------------------------------------------- sections
def sync_local(rounds: int, num_envs: int = 8, num_steps: int = 4000) -> None:
    actions = np.random.default_rng(0).integers(0, 2, size=(num_steps, num_envs))

    # A SequentialCurriculum whose condition reads the progress metrics is checked at every
    # episode and every sample; this one never fires, so it serves all forces throughout.
    def make_sequential() -> SequentialCurriculum:
        return SequentialCurriculum(
            [FORCES, FORCES], ["success_rate >= 0.99 & episode_return_ema > 1e9"], FORCES, seed=0
        )

    sequential = make_sequential()
    # The floor variants call their curricula directly, through the least wrapper.
    floor_randomization = DomainRandomization(FORCES, seed=0)
    floor_sequential = make_sequential()
    with (
        TaskServer(DomainRandomization(FORCES, seed=0), backend="local") as server,
        TaskServer(sequential, backend="local") as sequential_server,
    ):
        client = server.client()
        makers = {
            "bare": make_bare,
            "bare+key": make_key_only,
            "bare+key at reset": make_key_at_reset,
            "bare in a do-nothing wrapper": lambda: gym.Wrapper(make_bare()),
            "ours (local)": make_ours(client),
            "ours (local, task in reset infos)": make_ours(client, task_info="reset"),
            "ours (local, task every step)": make_ours(client, task_info="every_step"),
            "ours (local, Sequential on success_rate)": make_ours(sequential_server.client()),
            "floor: least wrapper, no-op curriculum": make_least(lambda k: [10.0], lambda *episode: None),
            "floor: least wrapper, DomainRandomization": make_least(
                floor_randomization.sample, floor_randomization.update_on_episode
            ),
            "floor: least wrapper, Sequential": make_least(floor_sequential.sample, floor_sequential.update_on_episode),
        }
        envs = {name: SyncVectorEnv([maker] * num_envs) for name, maker in makers.items()}
        lengths: dict[str, float] = {}
        cpu_steps_per_second: dict[str, list[float]] = {name: [] for name in envs}

        def runner(name: str) -> Callable[[], float]:
            def run() -> float:
                cpu_before = time.process_time()
                steps_per_second, lengths[name] = timed_vector_steps(envs[name], actions)
                cpu_steps_per_second[name].append(actions.size / (time.process_time() - cpu_before))
                return steps_per_second

            return run

        for vector_env in envs.values():
            vector_env.reset(seed=0)
        results = compare({name: runner(name) for name in envs}, rounds)
        for vector_env in envs.values():
            vector_env.close()
    report(f"SyncVectorEnv, {num_envs} CartPole envs, backend='local'", results)
    report("  same, against bare+key", results, baseline="bare+key")
    report("  same, env steps per second of process CPU time", cpu_steps_per_second)
    print("  mean episode length: " + ", ".join(f"{name} {length:.1f}" for name, length in lengths.items()))


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (Linux ``/proc``), or None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def async_process(rounds: int, num_envs: int, num_steps: int = 600) -> None:
    actions = np.random.default_rng(0).integers(0, 2, size=(num_steps, num_envs))
    with (
        TaskServer(DomainRandomization(FORCES, seed=0), backend="process") as server,
        TaskServer(StepUpdatesDomainRandomization(FORCES, seed=0), backend="process") as step_server,
    ):
        makers = {
            "bare": make_bare,
            "bare+key": make_key_only,
            "ours (process)": make_ours(server.client()),
            "ours (process, prefetch=4)": make_ours(server.client(prefetch=4)),
            "ours (process, steps)": make_ours(step_server.client()),
            "ours (process, task in reset infos)": make_ours(server.client(), task_info="reset"),
            "ours (process, task every step)": make_ours(server.client(), task_info="every_step"),
        }
        envs = {name: AsyncVectorEnv([maker] * num_envs, context="forkserver") for name, maker in makers.items()}
        for vector_env in envs.values():
            vector_env.reset(seed=0)
            timed_vector_steps(vector_env, actions[:50])  # warm up: workers connected, tasks prefetched
        # CPU time per env step, from the trainer process (including the server's threads) and the workers
        cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in envs}

        def runner(name: str) -> Callable[[], float]:
            def run() -> float:
                worker_pids = [process.pid for process in envs[name].processes]
                workers_before = [process_cpu_seconds(pid) for pid in worker_pids]
                trainer_before = time.process_time()
                steps_per_second, _ = timed_vector_steps(envs[name], actions)
                trainer = time.process_time() - trainer_before
                workers_after = [process_cpu_seconds(pid) for pid in worker_pids]
                if None not in workers_before and None not in workers_after:
                    workers = sum(workers_after) - sum(workers_before)  # type: ignore[arg-type]
                    cpu[name].append((trainer / actions.size * 1e6, workers / actions.size * 1e6))
                return steps_per_second

            return run

        results = compare({name: runner(name) for name in envs}, rounds)
        for vector_env in envs.values():
            vector_env.close()
        server.flush()
        step_server.flush()
    report(f"AsyncVectorEnv, {num_envs} CartPole envs, backend='process'", results)
    report("  same, against bare+key", results, baseline="bare+key")
    if all(cpu.values()):
        print(f"  {'CPU us per env step':<34}{'trainer':>18}{'workers':>18}")
        for name, samples in cpu.items():
            trainer = statistics.median(t for t, _ in samples)
            workers = statistics.median(w for _, w in samples)
            print(f"  {name:<34}{trainer:>18.1f}{workers:>18.1f}")


def ray_workers(rounds: int, num_workers: int = 4, num_steps: int = 40_000) -> None:
    """Ray tasks stepping one env each; two measures per variant (see the printed titles).

    *Steady state* is what the workers' stepping loops achieve (each times its
    own loop, from the first step after its first reset to the last step):
    total steps over the slowest loop. *End to end* is timed around
    ``ray.get`` of the whole batch of tasks, so it also holds what a worker
    pays once: Ray scheduling the task, unpickling the client (the actor
    handle), the round trip for its first tasks and, at ``env.close()``, the
    final flush of its reports. Both use the same runs.
    """
    import ray

    ray.init(num_cpus=num_workers, include_dashboard=False, log_to_driver=False)
    try:

        @ray.remote
        def work(client: Any, steps: int, seed: int) -> float:
            env = make_bare() if client is None else make_ours(client)()
            rng = np.random.default_rng(seed)
            actions = rng.integers(0, 2, size=steps)
            env.reset(seed=seed)
            start = time.perf_counter()
            for action in actions:
                _, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    env.reset()
            elapsed = time.perf_counter() - start
            env.close()
            return elapsed

        servers = {
            f"ours (ray, prefetch={prefetch!r})": TaskServer(
                DomainRandomization(FORCES, seed=0), backend="ray", prefetch=prefetch
            )
            for prefetch in ("auto", 1, 16, 64)  # "auto" is the Ray backend's default
        }
        clients: dict[str, Any] = {"bare": None, **{name: server.client() for name, server in servers.items()}}
        end_to_end: dict[str, list[float]] = {name: [] for name in clients}

        def runner(name: str) -> Callable[[], float]:
            def run() -> float:
                start = time.perf_counter()
                loop_times = ray.get([work.remote(clients[name], num_steps, seed) for seed in range(num_workers)])
                end_to_end[name].append(num_workers * num_steps / (time.perf_counter() - start))
                return num_workers * num_steps / max(loop_times)

            return run

        runner("bare")()  # warm up the worker processes
        end_to_end["bare"].clear()
        steady = compare({name: runner(name) for name in clients}, rounds)
        for server in servers.values():
            server.close()
    finally:
        ray.shutdown()
    title = f"Ray, {num_workers} tasks each stepping one CartPole env ({num_steps} steps), backend='ray'"
    report(title, steady, extra=": steady state (the workers' stepping loops)")
    report(title, end_to_end, extra=": end to end (with task start, first tasks and final flush)")


def make_syllabus_rl(components: Any, task_space: Any) -> Callable[[], gym.Env]:
    """A maker of the same CartPole through syllabus-rl's multiprocessing path.

    syllabus-rl's ``GymnasiumSyncWrapper`` around a syllabus-rl ``TaskWrapper``
    that applies the push force, as its documentation sets up an env; tasks
    come from ``components`` (of ``make_multiprocessing_curriculum``).
    """
    from syllabus.core import GymnasiumSyncWrapper
    from syllabus.core import TaskWrapper as SyllabusTaskWrapper

    class SyllabusCartPoleTask(SyllabusTaskWrapper):
        def __init__(self, env: gym.Env) -> None:
            super().__init__(env)
            self.task_space = task_space
            self.task = 10.0

        def change_task(self, new_task: float) -> None:
            self.env.unwrapped.force_mag = new_task
            self.task = new_task

    def make() -> gym.Env:
        return GymnasiumSyncWrapper(SyllabusCartPoleTask(gym.make("CartPole-v1")), task_space, components)

    return make


def syllabus_rl_side_by_side(rounds: int, sync_steps: int = 500, async_steps: int = 600) -> None:
    """bare, ours and syllabus-rl's multiprocessing path, in the same rounds.

    syllabus-rl runs a ``DomainRandomization`` over the same three forces
    behind its queue-based sync (an update thread in this process, one
    message per episode). Its queues only work with workers started by
    ``fork``, so the async variants here all use ``fork`` (the async section
    above uses ``forkserver``). It is slow here, so rounds are short; its update
    thread is stopped, and the SIGINT handler its ``start()`` installs is put
    back, before this function returns.
    """
    import signal

    from syllabus.core import make_multiprocessing_curriculum
    from syllabus.curricula import DomainRandomization as SyllabusDomainRandomization
    from syllabus.task_space import DiscreteTaskSpace as SyllabusDiscreteTaskSpace

    syllabus_space = SyllabusDiscreteTaskSpace(FORCES.num_tasks, FORCES.tasks)
    setups = [("sync", 8, sync_steps), ("async", 4, async_steps), ("async", 8, async_steps)]
    for kind, num_envs, num_steps in setups:
        actions = np.random.default_rng(0).integers(0, 2, size=(num_steps, num_envs))
        interrupt_handler = signal.getsignal(signal.SIGINT)
        syllabus_curriculum = make_multiprocessing_curriculum(SyllabusDomainRandomization(syllabus_space))
        signal.signal(signal.SIGINT, interrupt_handler)
        backend = "local" if kind == "sync" else "process"
        try:
            with TaskServer(DomainRandomization(FORCES, seed=0), backend=backend) as server:
                makers = {
                    "bare": make_bare,
                    f"ours ({backend})": make_ours(server.client()),
                    "syllabus-rl (multiprocessing)": make_syllabus_rl(syllabus_curriculum.components, syllabus_space),
                }
                if kind == "sync":
                    envs = {name: SyncVectorEnv([maker] * num_envs) for name, maker in makers.items()}
                else:  # syllabus-rl's queues belong to the default (fork) context, so every variant forks here
                    envs = {name: AsyncVectorEnv([maker] * num_envs, context="fork") for name, maker in makers.items()}
                for vector_env in envs.values():
                    vector_env.reset(seed=0)
                    timed_vector_steps(vector_env, actions[:20])  # warm up
                runners = {
                    name: (lambda env=env, actions=actions: timed_vector_steps(env, actions)[0])
                    for name, env in envs.items()
                }
                results = compare(runners, rounds)
                for vector_env in envs.values():
                    vector_env.close()
        finally:
            syllabus_curriculum.stop()
        vector = "SyncVectorEnv" if kind == "sync" else "AsyncVectorEnv"
        title = f"{vector}, {num_envs} CartPole envs: ours against syllabus-rl ({num_steps} vector steps a round)"
        report(title, results)


def describe_machine() -> None:
    import multiprocessing

    versions = {"python": platform.python_version(), "numpy": np.__version__, "gymnasium": gym.__version__}
    if importlib.util.find_spec("ray") is not None:
        import ray

        versions["ray"] = ray.__version__
    memory = ""
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory = f", {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB RAM"
    print(f"machine: {platform.machine()}, {multiprocessing.cpu_count()} CPUs{memory}, {platform.system()}")
    print("versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load is not None:
        print(f"load average at start: {load[0]:.2f} (other work on the machine adds noise; see the spread)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds per variant (default 9)")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: {','.join(SECTIONS)})",
    )
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; expected some of {', '.join(SECTIONS)}")

    describe_machine()
    if "sync" in sections:
        sync_local(args.rounds)
    if "async" in sections:
        for num_envs in (4, 8):
            async_process(args.rounds, num_envs)
    if "ray" in sections:
        if importlib.util.find_spec("ray") is None:
            print("\nRay: skipped (ray is not installed: pip install 'syllabus-like[ray]')")
        else:
            ray_workers(min(args.rounds, 5))

    if "syllabus-rl" in sections:
        if importlib.util.find_spec("syllabus") is None:
            print(
                "\nsyllabus-rl: not installed, so its path is not run side by side (it needs torch: "
                "pip install syllabus-rl matplotlib torch==2.13.0). For reference, issue 3 measured syllabus-rl 0.7 "
                "on this workload at 0.034 of bare (SyncVectorEnv, 8 envs), 0.38 (AsyncVectorEnv, 4) and 0.26 "
                "(AsyncVectorEnv, 8)."
            )
        else:
            syllabus_rl_side_by_side(min(args.rounds, 5))


if __name__ == "__main__":
    sys.exit(main())
