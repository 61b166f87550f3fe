#!/usr/bin/env bash
# A one-node Slurm cluster on localhost for tests and for trying the Slurm profile (Debian slurm-wlm + munge).
#   tools/slurm.sh start [DIR]   start munged, slurmctld and slurmd with state under DIR (default /tmp/sdt-slurm);
#                                waits until the node is idle
#   tools/slurm.sh stop  [DIR]   stop them
# Needs root (Slurm's daemons run as root here). Recipe and pitfalls: ../shared/docs/offline-services.md §1.
set -euo pipefail
cmd="${1:?usage: tools/slurm.sh start|stop [DIR]}"
B="${2:-/tmp/sdt-slurm}"

stop() {
  for name in slurmd slurmctld; do
    if [ -f "$B/run/$name.pid" ]; then kill "$(cat "$B/run/$name.pid")" 2>/dev/null || true; fi
  done
  pkill -x slurmd 2>/dev/null || true
  pkill -x slurmctld 2>/dev/null || true
  for _ in $(seq 1 20); do pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break; sleep 0.2; done
  # without a controller, a config left in place makes every Slurm client call (and so every Snakemake start,
  # whose Slurm plugin queries sacct/squeue on import) wait ~9 s for timeouts
  if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$B/slurm.conf" ]; then rm -f /etc/slurm/slurm.conf; fi
}

case "$cmd" in
  start)
    command -v slurmctld >/dev/null || { echo "slurm.sh: slurmctld not found (apt-get install slurm-wlm munge)" >&2; exit 1; }
    stop
    rm -rf "$B/spool" "$B/log" "$B/run"
    mkdir -p "$B/spool/ctld" "$B/spool/d" "$B/run" "$B/log"
    cpus=$(nproc)
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    mem=$(( mem > 4000 ? 4000 : mem ))  # must not exceed what slurmd -C reports
    cat > "$B/slurm.conf" <<CONF
ClusterName=sdtcluster
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$B/spool/ctld
SlurmdSpoolDir=$B/spool/d
SlurmctldPidFile=$B/run/slurmctld.pid
SlurmdPidFile=$B/run/slurmd.pid
SlurmctldLogFile=$B/log/slurmctld.log
SlurmdLogFile=$B/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=300
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
    # inside a job the plugin strips SLURM_* variables, so the config must sit at the default path
    mkdir -p /etc/slurm && ln -sf "$B/slurm.conf" /etc/slurm/slurm.conf
    mkdir -p /run/munge && chown munge:munge /run/munge
    [ -f /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || /usr/sbin/create-munge-key -f; chown munge:munge /etc/munge/munge.key; }
    pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    slurmctld -D -f "$B/slurm.conf" > "$B/log/slurmctld.out" 2>&1 &
    slurmd -D -N localhost -f "$B/slurm.conf" > "$B/log/slurmd.out" 2>&1 &
    for _ in $(seq 1 100); do
      if scontrol ping 2>/dev/null | grep -q UP && [ "$(sinfo -h -o %T 2>/dev/null | head -1)" = "idle" ]; then
        echo "slurm.sh: cluster up ($cpus CPUs, $mem MB) in $B" >&2; exit 0
      fi
      sleep 0.2
    done
    echo "slurm.sh: the cluster did not come up; see $B/log" >&2; exit 1 ;;
  stop) stop ;;
  *) echo "usage: tools/slurm.sh start|stop [DIR]" >&2; exit 2 ;;
esac
