#!/usr/bin/env bash
# A single-node SLURM cluster for tests and CI, without systemd (adapted from
# shared/tools/slurm-local.sh).
#
#   ci/slurm/cluster.sh install   apt-get install slurm-wlm munge (root; WITH_DBD=1 adds
#                                 slurmdbd and mariadb-server)
#   ci/slurm/cluster.sh up        write /etc/slurm/slurm.conf, start munged, slurmctld, slurmd
#                                 (and with WITH_DBD=1 mariadbd and slurmdbd) in the
#                                 background, wait until the node is idle
#   ci/slurm/cluster.sh down      stop every daemon that `up` started, by the PID it recorded
#   ci/slurm/cluster.sh status    the recorded daemons and whether each is alive; sinfo
#
# Environment:
#   SLURM_CI_STATE  folder for PID files and daemon output (default /tmp/barfi-slurm-ci)
#   WITH_DBD        1: accounting through slurmdbd + MariaDB so that `sacct` works;
#                   0 (default): accounting off, as on clusters where sacct is unavailable --
#                   the project's slurm profile checks job status with squeue for that case
#   SKIP_APT_UPDATE 1: `install` does not run apt-get update first
#
# Only the daemons started here are stopped, each by its own PID, never by name. `up` refuses
# to start when a slurmctld/slurmd is already answering (someone else's cluster) or when PID
# files of a previous `up` are still alive (run `down` first).
# The daemons run in the foreground mode (-D / -F) under setsid, so that the PID recorded is
# the daemon's own and not that of a forking parent.
set -euo pipefail
STATE=${SLURM_CI_STATE:-/tmp/barfi-slurm-ci}
WITH_DBD=${WITH_DBD:-0}
# Started in this order, stopped in reverse.
DAEMONS="munged mariadbd slurmdbd slurmctld slurmd"

die() { echo "cluster.sh: $*" >&2; exit 1; }

start() {  # start NAME CMD... : run detached in its own session, remember the PID
  local name=$1; shift
  setsid "$@" >"$STATE/$name.out" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
}

wait_for() {  # wait_for SECONDS CMD... : poll until CMD succeeds
  local t=$(( $1 * 2 )); shift
  until "$@" >/dev/null 2>&1; do
    t=$((t - 1))
    if [ $t -le 0 ]; then
      echo "cluster.sh: timeout waiting for: $*" >&2
      tail -n 20 "$STATE"/*.out /var/log/slurm/*.log >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.5
  done
}

alive() {  # alive NAME : the recorded daemon is running
  [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null
}

do_install() {
  [ "$(id -u)" = 0 ] || die "install needs root"
  export DEBIAN_FRONTEND=noninteractive
  mkdir -p "$STATE"
  local pkgs="slurm-wlm munge"
  [ "$WITH_DBD" = 1 ] && pkgs="$pkgs slurmdbd mariadb-server"
  # shellcheck disable=SC2086
  if dpkg-query -W -f='${Status}\n' $pkgs 2>/dev/null | grep -vq '^install ok installed$' \
     || [ "$(dpkg-query -W -f='${Status}\n' $pkgs 2>/dev/null | wc -l)" -ne "$(echo $pkgs | wc -w)" ]; then
    [ "${SKIP_APT_UPDATE:-0}" = 1 ] || apt-get update -q >"$STATE/apt-update.log"
    apt-get install -y -q --no-install-recommends $pkgs >"$STATE/apt.log" \
      || { tail -n 30 "$STATE/apt.log" >&2; die "apt-get install $pkgs failed"; }
  fi
  echo "cluster.sh: installed: $pkgs"
}

up() {
  [ "$(id -u)" = 0 ] || die "up needs root (it writes /etc/slurm and runs the daemons)"
  for bin in munged slurmctld slurmd; do
    [ -x "/usr/sbin/$bin" ] || die "/usr/sbin/$bin missing: run '$0 install' first"
  done
  mkdir -p "$STATE"
  local name
  for name in $DAEMONS; do
    alive "$name" && die "$name from a previous 'up' is still running (pid $(cat "$STATE/$name.pid")); run '$0 down' first"
    rm -f "$STATE/$name.pid"
  done
  if timeout 5 sinfo -h >/dev/null 2>&1; then
    die "a SLURM controller already answers on this machine; not starting a second one"
  fi
  # A busy controller may not answer within 5 s: also look for the daemons themselves (only
  # looking; they are not ours to stop).
  if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    die "slurmctld or slurmd is already running on this machine (pids: $(pgrep -x 'slurmctld|slurmd' | tr '\n' ' ')); not starting a second cluster"
  fi
  # If anything below fails, stop what was started so far.
  trap 'echo "cluster.sh: up failed, stopping what it started" >&2; down' ERR

  local host mem cpus acct
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
  acct=accounting_storage/none
  [ "$WITH_DBD" = 1 ] && acct=accounting_storage/slurmdbd
  mkdir -p /etc/slurm
  cat >/etc/slurm/slurm.conf <<CONF
# Written by barfi ci/slurm/cluster.sh: one node, one partition, for tests.
ClusterName=ci
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
SchedulerType=sched/backfill
# Finished jobs stay visible to squeue this long (seconds); the profile's squeue status
# check relies on it being >= 3 x its init_seconds_before_status_checks.
MinJobAge=300
# Seconds between SIGTERM and SIGKILL at a time limit, scancel or preemption.
KillWait=30
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=$acct
AccountingStorageHost=localhost
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /var/log/munge /var/lib/munge
  chown slurm:slurm /var/spool/slurmctld /var/log/slurm
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey -c -f
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  fi
  # A controller state left by an earlier cluster (jobs, node states) is not ours to keep.
  rm -rf /var/spool/slurmctld/* /var/spool/slurmd/*

  start munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F
  wait_for 30 munge -n

  if [ "$WITH_DBD" = 1 ]; then
    [ -x /usr/sbin/mariadbd ] && [ -x /usr/sbin/slurmdbd ] || die "WITH_DBD=1 needs slurmdbd and mariadb-server: WITH_DBD=1 $0 install"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    start mariadbd /usr/sbin/mariadbd --user=mysql
    wait_for 60 mariadb -e 'SELECT 1'
    mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
                GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    install -o slurm -g slurm -m 600 /dev/stdin /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
CONF
    start slurmdbd /usr/sbin/slurmdbd -D
    wait_for 60 sacctmgr -n list cluster
  fi

  start slurmctld /usr/sbin/slurmctld -D
  start slurmd /usr/sbin/slurmd -D
  wait_for 60 bash -c 'sinfo -h -N -o %t | grep -qx idle'
  if [ "$WITH_DBD" = 1 ]; then
    wait_for 30 bash -c 'sacctmgr -n list cluster format=cluster | grep -qw ci'
  fi
  trap - ERR
  sinfo
}

down() {
  local name pid stopped=0
  for name in $(echo $DAEMONS | tr ' ' '\n' | tac); do
    [ -f "$STATE/$name.pid" ] || continue
    pid=$(cat "$STATE/$name.pid")
    if kill -TERM "$pid" 2>/dev/null; then
      for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -KILL "$pid" 2>/dev/null || true
      stopped=$((stopped + 1))
    fi
    rm -f "$STATE/$name.pid"
  done
  # Stale PID files the daemons wrote themselves (they make the slurmctld prerm fail on purge).
  rm -f /run/slurmctld.pid /run/slurmd.pid /run/slurmdbd.pid
  echo "cluster.sh: stopped $stopped daemon(s)"
}

status() {
  local name
  for name in $DAEMONS; do
    [ -f "$STATE/$name.pid" ] || continue
    if alive "$name"; then echo "$name $(cat "$STATE/$name.pid") running"
    else echo "$name $(cat "$STATE/$name.pid") dead"; fi
  done
  timeout 5 sinfo 2>&1 || true
}

case "${1:-}" in
  install) do_install ;;
  up|down|status) "$1" ;;
  *) echo "usage: $0 install|up|down|status" >&2; exit 2 ;;
esac
