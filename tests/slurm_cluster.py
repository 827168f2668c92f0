"""A one-node Slurm cluster on localhost for the tests, from Debian's slurm-wlm and munge.

The cluster's configuration, state and logs live in a temporary folder;
nothing under /etc/slurm is changed. munged uses the key that Debian's munge
package installs.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

MUNGE_SOCKET = Path("/run/munge/munge.socket.2")


def missing_requirement():
    """Return why this machine cannot run the test cluster, or None."""
    if os.geteuid() != 0:
        return "the test Slurm cluster runs its daemons as root"
    for program in ("munged", "slurmctld", "slurmd", "sbatch", "scontrol"):
        if shutil.which(program) is None and not Path(f"/usr/sbin/{program}").exists():
            return f"{program} not found; install the Debian packages: apt-get install slurm-wlm munge"
    if not Path("/etc/munge/munge.key").is_file():
        return "/etc/munge/munge.key not found; reinstall the Debian package munge"
    return None


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _write_config(folder):
    host = socket.gethostname()
    config = f"""
ClusterName=runnertest
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
JobRequeue=1
ReturnToService=2
KillWait=30
NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""
    (folder / "state").mkdir()
    (folder / "spool").mkdir()
    path = folder / "slurm.conf"
    path.write_text(config.lstrip())
    return path


def _start_munged():
    """Start munged unless one is already running; return whether this call started it."""
    if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
        return False
    MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
    shutil.chown(MUNGE_SOCKET.parent, "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True)
    return True


class SlurmCluster:
    """A running one-node cluster; `env` points the Slurm commands at it."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.config = _write_config(self.folder)
        self.env = {**os.environ, "SLURM_CONF": str(self.config)}
        self._started_munged = False

    def start(self):
        """Start munged, slurmctld and slurmd, and wait until the node is idle."""
        self._started_munged = _start_munged()
        subprocess.run(["/usr/sbin/slurmctld", "-f", self.config], check=True, env=self.env)
        subprocess.run(["/usr/sbin/slurmd", "-f", self.config, "-N", socket.gethostname()], check=True, env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = self.run("sinfo", "-h", "-o", "%T").stdout.strip()
            if state == "idle":
                return self
            time.sleep(0.5)
        raise RuntimeError(f"the test Slurm node is not idle after 60 s (state {state!r}); see {self.folder}")

    def stop(self):
        """Stop the daemons this fixture started."""
        for name in ("slurmd", "slurmctld"):
            pid_file = self.folder / f"{name}.pid"
            if pid_file.is_file():
                try:
                    os.kill(int(pid_file.read_text()), 15)
                except (ProcessLookupError, ValueError):
                    pass
        if self._started_munged:
            subprocess.run(["pkill", "-x", "munged"], check=False)

    def run(self, *command):
        """Run a Slurm command against this cluster and return the CompletedProcess."""
        return subprocess.run(list(map(str, command)), capture_output=True, text=True, env=self.env, timeout=60)

    def node_state(self):
        """Return the state of the cluster's one node, such as `idle`, `allocated` or `completing`."""
        return self.run("sinfo", "--noheader", "--Node", "--format=%T").stdout.strip()

    def job_field(self, job_id, field):
        """Return one field of `scontrol show job`, such as JobState or RestartCnt."""
        output = self.run("scontrol", "show", "job", job_id).stdout
        for token in output.split():
            if token.startswith(f"{field}="):
                return token.split("=", 1)[1]
        return None
