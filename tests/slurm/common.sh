# shellcheck shell=bash disable=SC2034
# Shared by start-cluster.sh and stop-cluster.sh (sourced, not run): where the private test
# cluster keeps its state, and how a daemon is recognised as one this harness started.
#
#   QNNSCOPE_SLURM_DIR        state, configuration, logs and PID files [/tmp/qnnscope-slurm]
#   QNNSCOPE_SLURMCTLD_PORT   slurmctld's port [6817]
#   QNNSCOPE_SLURMD_PORT      slurmd's port [6818]

STATE=${QNNSCOPE_SLURM_DIR:-/tmp/qnnscope-slurm}
CTLD_PORT=${QNNSCOPE_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${QNNSCOPE_SLURMD_PORT:-6818}
CONF=$STATE/etc/slurm.conf
RUN=$STATE/run
LOGS=$STATE/log
MUNGE_SOCKET=$STATE/munge/munge.socket
# snakemake-executor-plugin-slurm-jobstep removes SLURM_CONF (with every SLURM_* variable but the
# job's ids) before the srun it runs each job under, and srun then reads the default path: the
# cluster's slurm.conf is linked there while it runs.
SYSTEM_CONF=/etc/slurm/slurm.conf
DAEMONS=(munged slurmctld slurmd)   # start order; stopped in reverse

say() { printf '%s: %s\n' "$(basename "$0")" "$*"; }
die() { printf '%s: error: %s\n' "$(basename "$0")" "$1" >&2; exit "${2:-1}"; }  # message [status]

binary_of() {  # the executable a daemon runs (Debian links slurmctld to slurmctld-wlm)
    readlink -f "/usr/sbin/$1"
}

pid_of() {  # print the PID of our running $1 and succeed, or fail: a PID file whose process is
    # gone, or is another program (a reused PID), or was not started on this state directory
    # does not count
    local file=$RUN/$1.pid pid exe
    [[ -s $file ]] || return 1
    read -r pid <"$file" || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    [[ ${exe% (deleted)} == "$(binary_of "$1")" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$STATE/" || return 1
    echo "$pid"
}

lock_state() {  # serialise start and stop on one state directory
    mkdir -p "$STATE"
    exec 9>"$STATE/lock"
    flock -w 120 9 || die "another start or stop on $STATE did not finish within 120 s"
}
