#!/usr/bin/env bash
# Start a private single-node SLURM cluster (munged, slurmctld, slurmd) for qnnscope's tests.
#
#   tests/slurm/start-cluster.sh          then: source /tmp/qnnscope-slurm/env  (sets SLURM_CONF)
#   tests/slurm/stop-cluster.sh           stops exactly the daemons this script started
#
# Installs Debian's slurmctld, slurmd, slurm-client and munge when they are missing (root only),
# writes slurm.conf for this machine (node from `hostname -s`, CPUs and memory from `slurmd -C`)
# and runs every daemon on a state directory of its own: its own munge key and socket, ports
# 6817/6818, PID files, logs and spool under $QNNSCOPE_SLURM_DIR (see common.sh); the one thing
# outside it is the link /etc/slurm/slurm.conf → its slurm.conf (see common.sh). There is no
# slurmdbd: submit with `--slurm-status-command squeue` (MinJobAge keeps finished jobs visible
# to squeue for an hour). Idempotent: daemons already running on the state directory are kept.
# Refuses, starting nothing, when a port is held by another program or /etc/slurm/slurm.conf is
# not this cluster's.
# The last lines printed are KEY=VALUE: QNNSCOPE_SLURM_DIR, SLURM_CONF and STARTED (the daemons
# this call started, comma-separated; empty when the cluster was already running).
set -euo pipefail
# shellcheck source=tests/slurm/common.sh
source "$(dirname "$0")/common.sh"

PACKAGES=(slurmctld slurmd slurm-client munge)
COMMANDS=(/usr/sbin/munged /usr/sbin/mungekey /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch
          /usr/bin/squeue /usr/bin/scontrol /usr/bin/sinfo /usr/bin/srun /usr/bin/scancel)

missing_commands() {
    local c
    for c in "${COMMANDS[@]}"; do [[ -x $c ]] || echo "$c"; done
}

install_packages() {  # apt-get, with service starts blocked: there is no init system to own them
    [[ -z $(missing_commands) ]] && return 0
    [[ $(id -u) == 0 ]] || die "SLURM is not installed ($(missing_commands | tr '\n' ' ')) and installing it needs root: apt-get install ${PACKAGES[*]}" 3
    command -v apt-get >/dev/null || die "SLURM is not installed and there is no apt-get to install ${PACKAGES[*]}" 3
    say "installing ${PACKAGES[*]}"
    local t0=$SECONDS
    (
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            trap 'rm -f /usr/sbin/policy-rc.d' EXIT
            printf '#!/bin/sh\n# written by qnnscope tests/slurm/start-cluster.sh during apt-get install\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
        fi
        export DEBIAN_FRONTEND=noninteractive
        wait_lock=(-o DPkg::Lock::Timeout=300)   # another apt-get may be running
        install=(apt-get install "${wait_lock[@]}" -y -q --no-install-recommends "${PACKAGES[@]}")
        "${install[@]}" >"$STATE/apt.log" 2>&1 ||
            { apt-get update "${wait_lock[@]}" -q >>"$STATE/apt.log" 2>&1 && "${install[@]}" >>"$STATE/apt.log" 2>&1; }
    ) || { tail -n 20 "$STATE/apt.log" >&2; die "apt-get install ${PACKAGES[*]} failed (log: $STATE/apt.log)" 3; }
    [[ -z $(missing_commands) ]] || die "apt-get installed ${PACKAGES[*]} but these are still missing: $(missing_commands | tr '\n' ' ')" 3
    say "installed ${PACKAGES[*]} in $((SECONDS - t0)) s"
}

port_free() {  # could a daemon bind TCP port $1 (SO_REUSEADDR, all addresses), as slurm does?
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

holder_of() {  # who listens on port $1, when ss can tell
    command -v ss >/dev/null && ss -Hltnp "sport = :$1" 2>/dev/null | head -n 3 | tr -s ' ' | sed 's/^/    /'
}

check_ports() {  # ports of the slurm daemons this call has to start
    local name port taken=()
    for name in slurmctld slurmd; do
        pid_of "$name" >/dev/null && continue
        port=$CTLD_PORT; [[ $name == slurmd ]] && port=$SLURMD_PORT
        port_free "$port" || taken+=("$name port $port is in use by another program:
$(holder_of "$port")")
    done
    ((${#taken[@]} == 0)) && return 0
    die "not starting the test cluster on $STATE:$(printf '\n  %s' "${taken[@]}")
  Stop that program (a system slurm: its own service; an earlier test cluster on another state
  directory: QNNSCOPE_SLURM_DIR=that-dir tests/slurm/stop-cluster.sh), or choose free ports with
  QNNSCOPE_SLURMCTLD_PORT and QNNSCOPE_SLURMD_PORT." 2
}

slurm_conf() {  # this machine as one node and one default partition
    local node=$1 hardware user
    hardware=$(slurmd -C | head -n 1)
    [[ $hardware == NodeName=* ]] || die "slurmd -C did not describe this machine: $hardware"
    hardware=${hardware#NodeName=* }   # CPUs=… Boards=… SocketsPerBoard=… … RealMemory=…
    user=$(id -un)
    cat <<EOF
# Written by qnnscope's tests/slurm/start-cluster.sh: a private single-node cluster for tests.
ClusterName=qnnscope
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
# No accounting (slurmdbd): job states come from squeue, which keeps finished jobs for MinJobAge s.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=3600
# A job asking for more than the node has is refused by sbatch instead of pending forever.
EnforcePartLimits=ALL
NodeName=$node NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

check_system_conf() {  # /etc/slurm/slurm.conf: free, ours, or a stale link to a removed test cluster
    [[ -e $SYSTEM_CONF || -L $SYSTEM_CONF ]] || return 0
    [[ -L $SYSTEM_CONF && $(readlink "$SYSTEM_CONF") == "$CONF" ]] && return 0
    if [[ -L $SYSTEM_CONF && ! -e $SYSTEM_CONF && $(readlink "$SYSTEM_CONF") == */etc/slurm.conf ]]; then
        say "removing $SYSTEM_CONF, a link to a test cluster that no longer exists ($(readlink "$SYSTEM_CONF"))"
        rm -f "$SYSTEM_CONF"
        return 0
    fi
    die "$SYSTEM_CONF exists and is not this test cluster's$([[ -L $SYSTEM_CONF ]] && echo " (a link to $(readlink "$SYSTEM_CONF"))").
  The cluster needs that path: the srun that snakemake-executor-plugin-slurm-jobstep runs each
  job under ignores SLURM_CONF. Stop the cluster it belongs to, or move it away." 2
}

write_conf() {  # atomically, and only if it changed; never under running daemons
    local text=$1
    if [[ -f $CONF ]] && [[ $(<"$CONF") == "$text" ]]; then return 0; fi
    if [[ -f $CONF ]] && { pid_of slurmctld >/dev/null || pid_of slurmd >/dev/null; }; then
        die "the cluster on $STATE runs with another configuration ($CONF); stop it first: QNNSCOPE_SLURM_DIR=$STATE tests/slurm/stop-cluster.sh"
    fi
    printf '%s\n' "$text" >"$CONF.tmp"
    mv -f "$CONF.tmp" "$CONF"
}

tail_log() { [[ -f $1 ]] && tail -n 15 "$1" | sed 's/^/    /' >&2; return 0; }

launch() {  # start daemon $1 with arguments, wait for its PID file
    local name=$1 pid i; shift
    if pid=$(pid_of "$name"); then say "$name already running (pid $pid)"; return 0; fi
    rm -f "$RUN/$name.pid"
    local rc=0
    "$@" 9>&- || rc=$?   # the daemons must not inherit the lock
    ((rc == 0)) || { tail_log "$LOGS/$name.log"; die "$name did not start (exit $rc); log: $LOGS/$name.log"; }
    for ((i = 0; i < 100; i++)); do
        if pid=$(pid_of "$name"); then say "started $name (pid $pid)"; STARTED+=("$name"); return 0; fi
        sleep 0.1
    done
    tail_log "$LOGS/$name.log"
    die "$name exited or wrote no PID file within 10 s; log: $LOGS/$name.log"
}

wait_until_ready() {  # slurmctld answers and the node takes jobs
    local node=$1 state="" i resumed=""
    for ((i = 0; i < 120; i++)); do
        state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
        case $state in
            idle | mixed | allocated | completing) return 0 ;;
            drain* | down)  # left over from an earlier run of this state directory
                [[ -z $resumed ]] && scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 && resumed=1 ;;
        esac
        sleep 0.5
    done
    tail_log "$LOGS/slurmctld.log"; tail_log "$LOGS/slurmd.log"
    die "node $node is '${state:-unknown to slurmctld}' after 60 s, not idle; logs: $LOGS"
}

smoke_job() {  # one real job step through munge, slurmctld and slurmd
    local out
    out=$(timeout 60 srun --quiet -N1 -n1 -t 1 --mem 10 -J qnnscope-smoke hostname 2>&1) ||
        die "the cluster runs but a one-second job failed: $out; logs: $LOGS"
}

lock_state
install_packages
check_ports
check_system_conf
mkdir -p "$STATE/etc" "$RUN" "$LOGS" "$STATE/ctld" "$STATE/spool" "$STATE/munge"
chmod 755 "$STATE" "$STATE/munge"
STARTED=()
node=$(hostname -s)
export SLURM_CONF=$CONF
write_conf "$(slurm_conf "$node")"
mkdir -p "$(dirname "$SYSTEM_CONF")"
[[ -L $SYSTEM_CONF ]] || ln -s "$CONF" "$SYSTEM_CONF"
if ! pid_of munged >/dev/null; then
    [[ -s $STATE/munge/munge.key ]] || mungekey --create --keyfile="$STATE/munge/munge.key"
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"   # only ours, and munged is not running
fi
launch munged munged --socket="$MUNGE_SOCKET" --key-file="$STATE/munge/munge.key" \
    --pid-file="$RUN/munged.pid" --log-file="$LOGS/munged.log" --seed-file="$STATE/munge/munged.seed"
launch slurmctld slurmctld -f "$CONF"
launch slurmd slurmd -f "$CONF" -N "$node"
wait_until_ready "$node"
((${#STARTED[@]})) && smoke_job
printf 'export SLURM_CONF=%q\n' "$CONF" >"$STATE/env.tmp" && mv -f "$STATE/env.tmp" "$STATE/env"
if ((${#STARTED[@]})); then
    say "cluster up: node $node ($(sinfo -h -n "$node" -o '%c CPUs, %m MB')), partition $(sinfo -h -o %P | head -n 1)"
else
    say "cluster already running on $STATE"
fi
echo "QNNSCOPE_SLURM_DIR=$STATE"
echo "SLURM_CONF=$CONF"
echo "STARTED=$(IFS=,; echo "${STARTED[*]}")"
