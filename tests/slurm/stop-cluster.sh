#!/usr/bin/env bash
# Stop the test cluster that start-cluster.sh started on $QNNSCOPE_SLURM_DIR: cancel the jobs
# still queued or running on it, then stop slurmd, slurmctld and munged by the PIDs in its PID
# files (a PID counts only while it is that daemon, started on this state directory), and remove
# the link /etc/slurm/slurm.conf if it points at this cluster. Nothing else is touched; the state
# directory (logs, job state) is kept. Idempotent.
set -euo pipefail
# shellcheck source=tests/slurm/common.sh
source "$(dirname "$0")/common.sh"

alive() { [[ $(readlink "/proc/$1/exe" 2>/dev/null) ]]; }   # false for zombies too

stop_daemon() {
    local name=$1 pid i
    if ! pid=$(pid_of "$name"); then
        rm -f "$RUN/$name.pid"
        say "$name not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
        say "$name (pid $pid) still runs 15 s after SIGTERM: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && die "$name (pid $pid) survived SIGKILL"
    fi
    rm -f "$RUN/$name.pid"
    say "stopped $name (pid $pid)"
}

cancel_jobs() {  # a stopped slurmd would leave their job steps behind
    local jobs i
    pid_of slurmctld >/dev/null && pid_of munged >/dev/null || return 0
    jobs=$(squeue -h -o %F 2>/dev/null | sort -u | tr '\n' ' ')
    [[ -n ${jobs// /} ]] || return 0
    say "cancelling jobs still on the cluster: $jobs"
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
        [[ -z $(squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null) ]] && return 0
        sleep 0.5
    done
    say "jobs still running 30 s after scancel: $(squeue -h -o %i | tr '\n' ' ')"
}

[[ -d $STATE ]] || { say "no test cluster on $STATE"; exit 0; }
lock_state
export SLURM_CONF=$CONF
cancel_jobs
for ((k = ${#DAEMONS[@]} - 1; k >= 0; k--)); do stop_daemon "${DAEMONS[k]}"; done
if [[ -L $SYSTEM_CONF && $(readlink "$SYSTEM_CONF") == "$CONF" ]]; then
    rm -f "$SYSTEM_CONF"
    say "removed the link $SYSTEM_CONF"
fi
