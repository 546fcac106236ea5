#!/usr/bin/env python3
"""The fault matrix: factorial-scheduler runs while faults are injected, every output compared
with exact n!, one table at the end (test/bench/README.md, "Fault matrix").

    test/bench/run-fault-matrix.py BUILD_DIR [--runs N] [--only KIND,...] [--list]

Every run is one job (--format json, --max-retries 1) on a fresh cluster: a real Mesos 1.12
master with two cpus:2 agents (needs MESOS_HOME; those rows are skipped without it) or
mesos-sim with two agents. zk-failover runs the real-Mesos ZooKeeper case of
test/e2e/zk_real_mesos_test.cpp (three masters, the leader SIGKILLed), which checks its own
output; it needs that test binary in BUILD_DIR, Java and ZooKeeper. A fault is injected once the job's first task runs. The output must
have one line per input number, each `finished` with the digits of bare-gmp (GMP's own
mpz_fac_ui + mpz_get_str, not the executor's conversion; numbers up to 3000 are also checked
against Python's math.factorial), and the exit status must be 0. Bad inputs are separate: each
must exit 2 with nothing on stdout and no raw control byte on stderr.

Columns: runs; lost (input numbers without an exact finished line, summed over runs); dup
(lines beyond one per input number); wrong (finished lines with wrong digits); hangs (runs
killed at the deadline); exit (runs whose status was not the expected one); faults (injected
and taking effect: a worker, executor or agent killed, a result file changed before it was
fetched; for mesos-sim, the control posted); retries (`runs again` log lines: the requeue
events the scheduler logged); expected (what the faults should cost: one per killed worker
and per changed file, one per task of a killed executor or agent counted at the kill, none for
a restarted agent or a fault of the master or the network; `?` where not known up front). CPU-heavy: it runs one job at a time, and takes 10-30 minutes
for the default matrix on a loaded 2-core machine.
"""

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

SMALL = 1500  # every n below it, shuffled
BIG = [500000, 530000, 560000, 590000, 620000, 650000, 200000, 300000]
DEADLINE = 240  # seconds per run before it counts as a hang


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url, data=None, timeout=5):
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
    try:
        return json.loads(body)
    except ValueError:
        return body


def workload():
    rng = random.Random(22)
    numbers = list(range(SMALL))
    rng.shuffle(numbers)
    for n in BIG:
        numbers.insert(rng.randrange(len(numbers)), n)
    return numbers


def reference(build, numbers, work):
    """n -> digits, from bare-gmp, spot-checked against Python for small n."""
    distinct = sorted(set(numbers))
    inp = "\n".join(map(str, distinct)) + "\n"
    out = subprocess.run([str(build / "test/bench/bare-gmp"), "1"], input=inp.encode(), capture_output=True,
                         check=True).stdout.decode()
    digits = {}
    for line in out.splitlines():
        n, _, d = line.partition("! = ")
        digits[int(n)] = d
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)
    for n in distinct:
        if n <= 3000 and str(math.factorial(n)) != digits[n]:
            sys.exit(f"bare-gmp and Python disagree on {n}!")
    return digits


class Result:
    def __init__(self):
        self.runs = self.lost = self.dup = self.wrong = self.hangs = self.exit = self.faults = self.retries = 0
        self.expected = 0  # None once a run's expected retries are unknown
        self.notes = []


def check_output(stdout, numbers, digits, res):
    lines = stdout.splitlines()
    res.dup += max(0, len(lines) - len(numbers))
    for i, n in enumerate(numbers):
        if i >= len(lines):
            res.lost += 1
            continue
        try:
            line = json.loads(lines[i])
        except ValueError:
            res.lost += 1
            continue
        if line.get("n") != n or line.get("status") != "finished":
            res.lost += 1
        elif line.get("factorial") != digits[n]:
            res.wrong += 1


# ---- clusters ---------------------------------------------------------------------------

class RealMesos:
    def __init__(self, home, work, agents=2, resources="cpus:2;mem:4096;disk:4096"):
        self.home, self.work, self.resources = Path(home), work, resources
        self.master_port = free_port()
        self.procs = []
        self.agent_args = []
        env = dict(os.environ, LIBPROCESS_IP="127.0.0.1")
        self.env = env
        (work / "master").mkdir(parents=True)
        # Agents are declared gone 3 s after they stop answering, not after 75 s.
        self.procs.append(self.spawn([self.home / "bin/mesos-master", "--ip=127.0.0.1", f"--port={self.master_port}",
                                      "--hostname=127.0.0.1", f"--work_dir={work / 'master'}", "--registry=in_memory",
                                      "--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=3"],
                                     work / "master.log"))
        for i in range(agents):
            a = work / f"agent{i}"
            for d in ("work", "runtime", "fetch"):
                (a / d).mkdir(parents=True)
            args = [self.home / "bin/mesos-agent", f"--master=127.0.0.1:{self.master_port}", "--ip=127.0.0.1",
                    f"--port={free_port()}", "--hostname=127.0.0.1", f"--work_dir={a / 'work'}",
                    f"--runtime_dir={a / 'runtime'}", f"--fetcher_cache_dir={a / 'fetch'}",
                    f"--launcher_dir={self.home / 'libexec/mesos'}", f"--resources={resources}",
                    "--containerizers=mesos", "--isolation=posix/cpu,posix/mem", "--launcher=posix",
                    "--no-systemd_enable_support", "--no-switch_user"]
            self.agent_args.append(args)
            self.procs.append(self.spawn(args, work / f"agent{i}.log"))
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if len(http_json(self.url + "/master/slaves")["slaves"]) == agents:
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError("agents did not register")

    def spawn(self, args, log):
        return subprocess.Popen([str(a) for a in args], stdin=subprocess.DEVNULL, stdout=open(log, "ab"),
                                stderr=subprocess.STDOUT, env=self.env)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.master_port}"

    def kill_agent(self, i):
        self.procs[1 + i].kill()
        self.procs[1 + i].wait()

    def restart_agent(self, i):
        self.procs[1 + i] = self.spawn(self.agent_args[i], self.work / f"agent{i}.log")

    def stop(self):
        for p in self.procs[1:]:
            if p.poll() is None:
                p.send_signal(signal.SIGUSR1)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.poll() is None:
                p.kill()
        kill_under(self.work)


class Sim:
    def __init__(self, build, work, agents=2):
        self.proc = subprocess.Popen([str(build / "test/mesos-sim"), "--agents", str(agents), "--resources",
                                      "cpus:2;mem:4096;disk:4096", "--port", "0", "--work-dir", str(work / "sim"),
                                      "--masters", "2"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=open(work / "sim.log", "ab"))
        self.url = self.proc.stdout.readline().decode().strip()
        self.work = work

    def post(self, what):
        return http_json(f"{self.url}/sim/{what}", data=b"")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        kill_under(self.work)


def processes_under(root, pattern=None):
    """(pid, cpu seconds, cmdline) of processes whose working directory is under root."""
    root = os.path.realpath(root)
    out = []
    tick = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            if not (cwd == root or cwd.startswith(root + "/")):
                continue
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / tick
        args = [c.decode(errors="replace") for c in cmd if c]
        if pattern is None or pattern(args):
            out.append((int(pid), cpu, args))
    return out


def kill_under(root):
    for pid, _, _ in processes_under(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def is_worker(args):
    return "--compute-worker" in args


def is_executor(args):
    return bool(args) and args[0].endswith("factorial-executor") and "--compute-worker" not in args


# ---- one run ----------------------------------------------------------------------------

def run_job(build, master, numbers, work, inject, extra=()):
    """Runs the job; inject(proc, log_path, deadline) is called once a task runs and returns
    (faults injected, retries they should cost); returns (exit status or None on a hang,
    stdout, stderr, faults, expected retries)."""
    inp = work / "numbers"
    inp.write_text("\n".join(map(str, numbers)) + "\n")
    log = work / "scheduler.log"
    args = [str(build / "scheduler/factorial-scheduler"), "--master", master, "--executor",
            str(build / "executor/factorial-executor"), "--refuse-seconds", "0.2", "--format", "json",
            "--max-retries", "1", "--log-level", "debug", "--input", str(inp), *extra]
    out = open(work / "stdout", "wb")
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=open(log, "wb"))
    faults = expected = 0
    deadline = time.time() + DEADLINE
    # The first task runs: the scheduler logs its TASK_RUNNING.
    while time.time() < deadline and proc.poll() is None:
        if re.search(r"task \S+: TASK_RUNNING", log.read_text(errors="replace")):
            break
        time.sleep(0.05)
    code = None
    try:
        if proc.poll() is None and inject is not None:
            faults, expected = inject(proc, log, deadline)
        code = proc.wait(timeout=max(1, deadline - time.time()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        out.close()
    return code, (work / "stdout").read_text(errors="replace"), log.read_text(errors="replace"), faults, expected


def framework_id(log):
    m = re.search(r"subscribed as framework (\S+)", log.read_text(errors="replace"))
    return m.group(1) if m else None


def framework_sandboxes(work, log):
    fid = framework_id(log)
    if not fid:
        return []
    return [p for p in work.glob(f"*/work/slaves/*/frameworks/{fid}") if p.is_dir()] + \
        [p for p in work.glob(f"sim/**/frameworks/{fid}") if p.is_dir()]


def agent_of(work, pid):
    """The index of the agent whose sandbox holds process pid."""
    cwd = os.readlink(f"/proc/{pid}/cwd")
    return 0 if cwd.startswith(f"{os.path.realpath(work)}/agent0/") else 1


def running_tasks(cluster, agent, fid):
    """Our tasks the agent runs now."""
    port = next(str(a) for a in cluster.agent_args[agent] if str(a).startswith("--port=")).split("=")[1]
    state = http_json(f"http://127.0.0.1:{port}/state")
    return sum(len(e.get("tasks", [])) for f in state.get("frameworks", []) if f.get("id") == fid
               for e in f.get("executors", []))


def busiest(proc, work, log, deadline, pattern, min_cpu=0.2):
    """The process matching pattern in the framework's sandboxes whose CPU time grows most;
    None if the job ends first."""
    while time.time() < deadline and proc.poll() is None:
        procs = [p for s in framework_sandboxes(work, log) for p in processes_under(s, pattern)]
        if any(cpu >= min_cpu for _, cpu, _ in procs):
            # Half a second of sampling: with 8 runnable processes per core a busy one still
            # gets several clock ticks.
            before = {pid: cpu for pid, cpu, _ in procs}
            time.sleep(0.5)
            grown = [(cpu - before[pid], pid) for s in framework_sandboxes(work, log)
                     for pid, cpu, _ in processes_under(s, pattern) if pid in before]
            grown = [g for g in grown if g[0] >= 0.02]
            if grown:
                return max(grown)[1]
        time.sleep(0.05)
    return None


# ---- faults -----------------------------------------------------------------------------

def real_fault(kind, cluster, work):
    def worker_kill(proc, log, deadline):
        pid = busiest(proc, work, log, deadline, is_worker)
        if pid is None:
            return 0, 0
        os.kill(pid, signal.SIGKILL)
        return 1, 1  # the number it computed runs again

    def executor_kill(proc, log, deadline):
        pid = busiest(proc, work, log, deadline, lambda a: is_executor(a) or is_worker(a))
        if pid is None:
            return 0, 0
        # The executor that owns the busiest worker (or is itself the busiest).
        try:
            ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            cmd = open(f"/proc/{ppid}/cmdline", "rb").read().split(b"\0")
            if cmd and cmd[0].endswith(b"factorial-executor") and b"--compute-worker" not in cmd:
                pid = ppid
        except (OSError, IndexError, ValueError):
            pass
        tasks = running_tasks(cluster, agent_of(work, pid), framework_id(log))
        os.kill(pid, signal.SIGKILL)
        return 1, tasks  # each of its tasks fails and runs again (split in halves)

    def agent_kill(restart):
        def inject(proc, log, deadline):
            # The agent whose executor computes hardest, after it started computing.
            pid = busiest(proc, work, log, deadline, is_worker)
            if pid is None:
                return 0, 0
            index = agent_of(work, pid)
            tasks = running_tasks(cluster, index, framework_id(log))
            cluster.kill_agent(index)
            if restart:
                time.sleep(1)
                cluster.restart_agent(index)
            else:
                # Without its agent the executor would carry on unseen: a machine dies whole.
                kill_under(work / f"agent{index}")
            # A restarted agent recovers its executors, which carry on: nothing to retry.
            return 1, 0 if restart else tasks
        return inject

    def result_file(change):
        def inject(proc, log, deadline):
            # The first result file of a big number, changed as soon as it is whole (the
            # scheduler fetches it only after its task finishes).
            seen = set()
            while time.time() < deadline and proc.poll() is None:
                for s in framework_sandboxes(work, log):
                    for f in s.glob("executors/*/runs/*/*.frf"):
                        if f in seen or not re.search(r"\.\d{6}\.frf$", f.name):
                            continue
                        seen.add(f)
                        try:
                            if change == "delete":
                                f.unlink()
                            elif change == "truncate":
                                os.truncate(f, f.stat().st_size // 2)
                            else:
                                with open(f, "r+b") as fh:
                                    fh.seek(f.stat().st_size // 2)
                                    b = fh.read(1)
                                    fh.seek(-1, 1)
                                    fh.write(bytes([b[0] ^ 1]))
                        except OSError:
                            continue
                        return 1, 1  # its one number runs again
                time.sleep(0.01)
            return 0, 0
        return inject

    return {
        "worker-kill": worker_kill,
        "executor-kill": executor_kill,
        "agent-kill": agent_kill(False),
        "agent-kill-restart": agent_kill(True),
        "result-corrupt": result_file("corrupt"),
        "result-truncate": result_file("truncate"),
        "result-delete": result_file("delete"),
        "none": None,
    }[kind]


SIM_FAULTS = {
    "sim:none": [],
    "sim:agent-kill": ["agents/0/kill"],
    "sim:executors-kill": ["executors/kill"],
    "sim:drop-connections": ["drop-connections"],
    "sim:stall-heartbeats": ["stall-heartbeats?ms=90000"],
    "sim:leader": ["leader?index=1"],
    "sim:no-leader": ["leader?index=-1", "@3", "leader?index=0"],
    "sim:rescind-offers": ["rescind-offers"],
    "sim:corrupt-stream": ["corrupt-stream"],
    "sim:fail-calls-500": ["fail-calls?count=5&status=500"],
    "sim:fail-calls-503": ["fail-calls?count=5&status=503"],
    "sim:fail-accept-400": ["fail-calls?count=1&status=400&type=ACCEPT"],
    "sim:delay": ["delay?ms=800", "@5", "delay?ms=0"],
    "sim:corrupt-downloads": ["corrupt-downloads?count=1"],
    "sim:slow-downloads": ["slow-downloads?ms=3000"],
}


# What each fault should cost, in requeues: a fault of the master or the network nothing; a
# refused ACCEPT its tasks, relaunched (free: they never ran); a corrupted download its file's
# numbers; every executor killed, each running task ("tasks": counted at the kill); an agent
# killed, its tasks (None: mesos-sim does not say which, so not compared).
SIM_RETRIES = {"sim:agent-kill": None, "sim:executors-kill": "tasks", "sim:corrupt-downloads": 1,
               "sim:fail-accept-400": "accepted tasks"}


def accepted_tasks(log):
    """The tasks of the ACCEPTs that failed, as the scheduler's log counts them."""
    return sum(int(n) for n in re.findall(r"ACCEPT of offer \S+ failed; reconciling the (\d+) task", log))


def sim_fault(kind, sim):
    def inject(proc, log, deadline):
        expected = SIM_RETRIES.get(kind, 0)
        if expected == "tasks":
            expected = sum(f["tasks"] for f in http_json(f"{sim.url}/sim/state")["frameworks"])
        elif expected == "accepted tasks":
            expected = accepted_tasks  # read from the log once the run is over
        for step in SIM_FAULTS[kind]:
            if step.startswith("@"):
                time.sleep(float(step[1:]))
            else:
                sim.post(step)
        return 1, expected
    return inject if SIM_FAULTS[kind] else None


BAD_INPUTS = [
    b"1\n\x1b]0;pwned\x07\x1b[31mRED\n3\nab\x00cd\nzz\n", b"-1\n", b"1e6\n", b"0x10\n", b"5 6\n",
    b"99999999999999999999999\n", b"\xef\xbb\xbf\xef\xbb\xbf5\n", b"\xff\xfe5\n", b"5\x1b[2J\n", b"\x00\n",
    b"+5\n", b"5.0\n", b"\x7f\n", b"\xc3\x28\n", b"\t\x1b[0m\n", b"1" * 70000 + b"\n",
]


BAD_ARGS = [["--batch-size", "-1"], ["--max-retries", "x"], ["--task-cpus", "0"], ["--offer-wait", "-5"],
            ["--format", "xml\x1b[31m"], ["--max-n", "1e400"], ["--hold-memory", "-1"]]


def bad_inputs(build, work):
    """Each must exit 2 having sent nothing and printed nothing on stdout, with no raw control
    byte on stderr and the whole offending text quoted (what follows a NUL too); counted under
    exit and wrong."""
    res = Result()
    scheduler = str(build / "scheduler/factorial-scheduler")
    cases = []
    for i, data in enumerate(BAD_INPUTS):
        f = work / f"bad{i}"
        f.write_bytes(data)
        cases.append((f"input {i}", ["--input", str(f)], data))
    cases += [(" ".join(args), args, b"") for args in BAD_ARGS]
    for name, args, data in cases:
        res.runs += 1
        p = subprocess.run([scheduler, "--master", "127.0.0.1:1", *args, "5"], capture_output=True, timeout=30)
        raw = [b for b in p.stderr if (b < 0x20 and b not in (0x0a, 0x09)) or b == 0x7f]
        if p.returncode != 2 or p.stdout:
            res.exit += 1
            res.notes.append(f"{name}: exit {p.returncode}, {len(p.stdout)} bytes out")
        if raw:
            res.wrong += 1
            res.notes.append(f"{name}: {len(raw)} raw control bytes on stderr")
        if b"\0cd" in data and b"cd" not in p.stderr.split(b"ab", 1)[-1]:
            res.wrong += 1
            res.notes.append(f"{name}: the message stops at the NUL")
        if re.search(rb"\de\+\d", p.stderr):
            res.wrong += 1
            res.notes.append(f"{name}: a number shown in floating point: {p.stderr[:200]!r}")
    return res


def zk_failover(build, runs):
    """The leading one of three real masters SIGKILLed mid-run, found again through ZooKeeper:
    test/e2e/zk_real_mesos_test.cpp checks every line exact and printed once; a failed or
    skipped run counts under exit."""
    res = Result()
    binary = build / "test/zk_real_mesos_tests"
    if not binary.exists():
        res.notes.append(f"{binary} not built")
        return res
    for _ in range(runs):
        res.runs += 1
        res.faults += 1
        try:
            p = subprocess.run([str(binary), "zk://: the scheduler follows real masters through a leader crash*"],
                               capture_output=True, timeout=DEADLINE * 2)
        except subprocess.TimeoutExpired:
            res.hangs += 1
            continue
        if p.returncode != 0 or b"SKIPPED" in p.stdout + p.stderr:
            res.exit += 1
            res.notes.append(f"run {res.runs}: exit {p.returncode}: {p.stdout[-300:].decode(errors='replace')}")
    return res


# ---- the matrix -------------------------------------------------------------------------

def one(build, kind, numbers, digits, res, keep):
    work = Path(tempfile.mkdtemp(prefix="fault-matrix-"))
    cluster = None
    try:
        if kind.startswith("sim:"):
            cluster = Sim(build, work)
            inject = sim_fault(kind, cluster)
        else:
            cluster = RealMesos(os.environ["MESOS_HOME"], work)
            inject = real_fault(kind, cluster, work)
        code, out, err, faults, expected = run_job(build, cluster.url, numbers, work, inject)
    finally:
        if cluster is not None:
            cluster.stop()
    res.runs += 1
    res.faults += faults
    if callable(expected):
        expected = expected(err)
    res.expected = None if expected is None or res.expected is None else res.expected + expected
    res.retries += len(re.findall(r"runs? again", err))
    if code is None:
        res.hangs += 1
    elif code != 0:
        res.exit += 1
    before = (res.lost, res.dup, res.wrong)
    check_output(out, numbers, digits, res)
    bad = code != 0 or (res.lost, res.dup, res.wrong) != before
    if bad or keep:
        dest = Path(tempfile.gettempdir()) / f"fault-matrix-kept-{kind.replace(':', '-')}-{res.runs}"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(work, dest, symlinks=True, ignore=shutil.ignore_patterns("*.frf", "meta", "provisioner"),
                        ignore_dangling_symlinks=True)
        res.notes.append(f"run {res.runs}: exit {code}; kept {dest}")
    shutil.rmtree(work, ignore_errors=True)


def main():
    real = ["none", "worker-kill", "executor-kill", "agent-kill", "agent-kill-restart", "result-corrupt",
            "result-truncate", "result-delete"]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated kinds: " + ", ".join(
        real + ["zk-failover"] + list(SIM_FAULTS) + ["bad-input"]))
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep every run's logs, not only failed runs'")
    a = ap.parse_args()
    kinds = real + ["zk-failover"] + list(SIM_FAULTS) + ["bad-input"]
    if a.list:
        print("\n".join(kinds))
        return
    if a.only:
        kinds = a.only.split(",")
    build = Path(a.build).resolve()
    if not os.environ.get("MESOS_HOME"):
        print("MESOS_HOME unset: real-Mesos rows skipped", file=sys.stderr)
        kinds = [k for k in kinds if k.startswith("sim:") or k == "bad-input"]
    if any(k not in real + ["zk-failover", "bad-input"] + list(SIM_FAULTS) for k in kinds):
        sys.exit(f"unknown kind in {kinds}; --list names them")
    numbers = workload()
    scratch = Path(tempfile.mkdtemp(prefix="fault-matrix-ref-"))
    digits = reference(build, numbers, scratch)
    shutil.rmtree(scratch)
    print(f"{len(numbers)} numbers ({len(set(numbers))} distinct, the largest {max(numbers)}), "
          f"--max-retries 1, {a.runs} run(s) per fault", flush=True)
    rows = []
    for kind in kinds:
        if kind == "bad-input":
            work = Path(tempfile.mkdtemp(prefix="fault-matrix-"))
            res = bad_inputs(build, work)
            shutil.rmtree(work)
        elif kind == "zk-failover":
            res = zk_failover(build, a.runs)
        else:
            res = Result()
            for _ in range(a.runs):
                start = time.time()
                one(build, kind, numbers, digits, res, a.keep)
                print(f"  {kind}: run {res.runs} in {time.time() - start:.0f} s", file=sys.stderr, flush=True)
        rows.append((kind, res))
    print("\n| fault | runs | lost | dup | wrong | hangs | exit | faults | retries | expected |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind, r in rows:
        expected = "?" if r.expected is None else r.expected
        print(f"| {kind} | {r.runs} | {r.lost} | {r.dup} | {r.wrong} | {r.hangs} | {r.exit} | {r.faults} | {r.retries} "
              f"| {expected} |")
    for kind, r in rows:
        for note in r.notes:
            print(f"{kind}: {note}")


if __name__ == "__main__":
    main()
