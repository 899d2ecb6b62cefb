"""Timing whole ``civkit`` commands as processes, the way a user runs them (issue 14).

In-process timings leave out what a user waits for too: the interpreter starting, the imports, the
output. Here each command runs as a process next to its baseline command, in the same run and in
alternating order (baseline first in odd rounds, civkit first in even ones), so a busy moment of a
shared machine does not favour one side. Every round is kept: the median counts, the min-max range
is the spread.

Which ``civkit``: by default a copy of the console script pip writes (``from civkit.cli.main import
main``), run by this Python with this checkout first on PYTHONPATH, so a worktree measures its own
code; ``--civkit PATH`` times an installed script instead (a pyenv shim adds a bash start-up of its
own: pass the real script, e.g. ``$(pyenv which civkit)``). Both sides get the same environment,
with bytecode cached (``process_env``).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# What pip's console-script wrapper for `civkit = "civkit.cli.main:main"` contains.
CONSOLE_SCRIPT = """import re
import sys
from civkit.cli.main import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


def add_process_options(parser) -> None:
    parser.add_argument("--process", action="store_true",
                        help="time the whole `civkit` command as a process against the baseline command")
    parser.add_argument("--civkit", metavar="PATH",
                        help="with --process: an installed civkit script to time (default: this checkout)")


def civkit_command(tmp: Path, installed: str | None = None) -> list:
    if installed:
        return [installed]
    script = tmp / "civkit"
    script.write_text(CONSOLE_SCRIPT)
    return [sys.executable, str(script)]


def process_env(tmp: Path, **extra: str) -> dict:
    """The environment of both sides. Bytecode is cached as in a normal install (a shell or sandbox
    with PYTHONDONTWRITEBYTECODE=1 would make every civkit run compile its modules again), under
    ``tmp`` so no ``__pycache__`` lands in the source tree; the uncounted first runs fill it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
    env.update(extra)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(cmd: list, env: dict, ok_codes=(0,), cpu: list | None = None) -> float:
    """Wall seconds from start to exit; output goes to /dev/null (a terminal would be slower).
    ``cpu``: gets the CPU seconds the process used appended."""
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(_children_cpu() - cpu0)
    if proc.returncode not in ok_codes:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return wall


def _stats(times: list) -> str:
    return f"median {statistics.median(times):.3f} s  (min {min(times):.3f}, max {max(times):.3f})"


def compare(title: str, civkit_cmd: list, baseline_cmd: list, *, env: dict, runs: int, goal, goal_text: str,
            civkit_label: str, baseline_label: str, ok_codes=(0,), faster_is_ratio: bool = False,
            prepare=None) -> bool:
    """Run both commands ``runs`` times each, alternating; print the figures and whether ``goal``
    (a function of the medians ``(civkit_s, baseline_s)``) is met. ``faster_is_ratio``: the ratio
    printed is baseline / civkit (a speed-up) instead of civkit / baseline (a cost). ``prepare``: called
    before every civkit run, not timed (e.g. to start from an empty index)."""
    prepare = prepare or (lambda: None)
    prepare()
    run_once(civkit_cmd, env, ok_codes)  # warm the page cache and the .pyc files, not counted
    run_once(baseline_cmd, env)
    ours: list = []
    theirs: list = []
    cpu: dict = {id(ours): [], id(theirs): []}
    for i in range(runs):
        pair = [(theirs, baseline_cmd, (0,)), (ours, civkit_cmd, ok_codes)]
        for times, cmd, codes in pair if i % 2 == 0 else reversed(pair):
            if times is ours:
                prepare()
            times.append(run_once(cmd, env, codes, cpu[id(times)]))
    civ, base = statistics.median(ours), statistics.median(theirs)
    rounds = [(b / c if faster_is_ratio else c / b) for c, b in zip(ours, theirs, strict=True)]
    ratio = base / civ if faster_is_ratio else civ / base
    what = "baseline / civkit (speed-up)" if faster_is_ratio else "civkit / baseline"
    met = goal(civ, base)
    print(f"{title}: {runs} rounds each, alternating order")
    print(f"  baseline  {baseline_label:<44} {_stats(theirs)}")
    print(f"  civkit    {civkit_label:<44} {_stats(ours)}")
    print(f"  ratio {what}: {ratio:.2f}x of the medians; per round {min(rounds):.2f}x .. {max(rounds):.2f}x")
    print(f"  difference civkit - baseline: {civ - base:+.3f} s of the medians")
    civ_cpu, base_cpu = statistics.median(cpu[id(ours)]), statistics.median(cpu[id(theirs)])
    line = f"  CPU seconds (medians): civkit {civ_cpu:.3f}, baseline {base_cpu:.3f}"
    if faster_is_ratio and civ_cpu > 0:  # the baseline is one thread: what idle cores would allow civkit
        line += f"; on {os.cpu_count()} idle cores civkit could reach at most ~{base_cpu * (os.cpu_count() or 1) / civ_cpu:.2f}x"
    print(line)
    print(f"  goal {goal_text}: {'MET' if met else 'NOT MET'}")
    return met
