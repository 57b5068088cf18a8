#!/usr/bin/env bash
# One-shot GPU check of qnnscope on a machine with one CUDA GPU (docs/gpu.md): set up or reuse a
# venv with torch 2.13.0 and qnnscope, print the GPU, run the CUDA tests, then the GPU tables of
# benchmarks/bench_gpu.py. Each stage has a timeout, about 8 minutes in all; a stage that fails
# is reported and the next one still runs; the exit status is 0 only if every stage passed.
#
#   bash benchmarks/gpu.sh [--out STEM]      the whole run: STEM.md and STEM.csv (the tables),
#                                            STEM-<stage>.log; STEM defaults to results/bench/gpu
#   bash benchmarks/gpu.sh --dry-run         installs nothing, runs nothing heavy (CPU, CI): checks
#                                            that this script parses, prints the stages, and runs
#                                            bench_gpu.py --dry-run
#
# Environment:
#   QNNSCOPE_GPU_VENV    the venv to create or reuse (default .venv)
#   QNNSCOPE_GPU_PYTHON  the interpreter that creates it, and the fallback (default python3)
#   QNNSCOPE_GPU_INSTALL 0: no venv, no pip; straight to the fallback (a machine known to be offline)
#   TORCH_SPEC           default torch==2.13.0 (PyPI's Linux wheel of it is the CUDA build)
#   PIP_ARGS             extra pip arguments (default: --timeout 15 --retries 1, to fail fast offline)
#   BENCH_ARGS           extra arguments for bench_gpu.py, e.g. "--qubits 16 20 24"
#   T_SETUP T_SMI T_TESTS T_BENCH   stage timeouts in seconds (120 15 120 210)
# Without network, or when pip brings a CPU build of torch, the venv cannot be made: the script
# then falls back to QNNSCOPE_GPU_PYTHON if its torch is a CUDA build, with PYTHONPATH=src.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
SCRIPT=benchmarks/gpu.sh
DRY=0
STEM=results/bench/gpu
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dry-run) DRY=1 ;;
        --out) STEM=${2:?--out needs a path stem}; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SCRIPT"; exit 0 ;;
        *) echo "usage: bash $SCRIPT [--dry-run] [--out STEM]" >&2; exit 2 ;;
    esac
    shift
done
VENV=${QNNSCOPE_GPU_VENV:-.venv}
BASE_PY=${QNNSCOPE_GPU_PYTHON:-python3}
INSTALL=${QNNSCOPE_GPU_INSTALL:-1}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PIP_ARGS=${PIP_ARGS:---timeout 15 --retries 1}
BENCH_ARGS=${BENCH_ARGS:-}
T_SETUP=${T_SETUP:-120}
T_SMI=${T_SMI:-15}
T_TESTS=${T_TESTS:-120}
T_BENCH=${T_BENCH:-210}
BENCH_BUDGET=$(( T_BENCH > 90 ? T_BENCH - 60 : T_BENCH / 2 ))   # bench_gpu.py starts no cell after this
export PYTHONUNBUFFERED=1
# the test files with CUDA tests (skipif(not torch.cuda.is_available())); -k cuda selects them
mapfile -t CUDA_TEST_FILES < <(grep -lF "skipif(not torch.cuda.is_available()" tests/test_*.py)

describe() {
    local plan="reuse $VENV if its torch is a CUDA build and qnnscope imports; else
                  $BASE_PY -m venv $VENV; pip install $TORCH_SPEC; pip install -e .[test]"
    [[ $INSTALL == 0 ]] && plan="QNNSCOPE_GPU_INSTALL=0: no venv, no pip"
    cat <<EOF
stages (timeout each; about $(( (T_SETUP + T_SMI + T_TESTS + T_BENCH) / 60 )) min at most):
  1 setup  (${T_SETUP} s)  $plan
                  (fallback: $BASE_PY with PYTHONPATH=src if its torch is a CUDA build)
  2 gpu    (${T_SMI} s)  nvidia-smi
  3 tests  (${T_TESTS} s)  python -m pytest -q -rs --continue-on-collection-errors -k cuda \\
                  ${CUDA_TEST_FILES[*]}
  4 bench  (${T_BENCH} s)  python benchmarks/bench_gpu.py --total-budget $BENCH_BUDGET --out $STEM $BENCH_ARGS
outputs: $STEM.md, $STEM.csv, $STEM-{setup,gpu,tests,bench}.log, $STEM-summary.txt
EOF
}

if [[ $DRY == 1 ]]; then
    echo "== dry run: nothing is installed"
    bash -n "$SCRIPT" && echo "syntax: ok (bash -n $SCRIPT)" || exit 1
    describe
    for tool in timeout nvidia-smi; do
        printf '%-11s %s\n' "$tool:" "$(command -v "$tool" || echo 'not found')"
    done
    PY=$BASE_PY
    [[ -x $VENV/bin/python ]] && PY=$VENV/bin/python
    echo "python: $PY"
    # shellcheck disable=SC2086
    timeout 120 "$PY" benchmarks/bench_gpu.py --dry-run $BENCH_ARGS
    rc=$?
    echo "== dry run done (bench_gpu.py --dry-run exit $rc)"
    exit $rc
fi

mkdir -p "$(dirname "$STEM")"
declare -A STATUS
ORDER=()
PY=""

# run_stage NAME TIMEOUT LABEL COMMAND...: log to STEM-NAME.log, record ok / failed / timed out
run_stage() {
    local name=$1 limit=$2 label=$3; shift 3
    ORDER+=("$name")
    echo "== [$name] $label (timeout ${limit} s)"
    local start=$SECONDS
    timeout -k 10 "$limit" "$@" 2>&1 | tee "$STEM-$name.log"
    local rc=${PIPESTATUS[0]}
    local took=$(( SECONDS - start ))
    case $rc in
        0) STATUS[$name]="ok (${took} s)" ;;
        124|137) STATUS[$name]="TIMED OUT after ${limit} s" ;;
        *) STATUS[$name]="FAILED (exit $rc, ${took} s)" ;;
    esac
    echo "== [$name] ${STATUS[$name]}"
}

skip_stage() {
    ORDER+=("$1")
    STATUS[$1]="skipped: $2"
    echo "== [$1] skipped: $2"
}

# shellcheck disable=SC2317  # usable and setup run inside `bash -c` (declare -f), under timeout
# the venv's python (or the fallback) if its torch is a CUDA build and the engine imports
usable() {
    "$@" -c 'import sys, torch, qnnscope.sim.engine, qnnscope.backends.torch_backend
sys.exit(0 if torch.version.cuda else 3)' 2>/dev/null
}

# shellcheck disable=SC2317
# setup, as its own process under `timeout`; prints the interpreter to use on its last line
setup() {
    if [[ $INSTALL == 0 ]]; then
        echo "QNNSCOPE_GPU_INSTALL=0: no venv, no pip"
    elif [[ -x $VENV/bin/python ]] && usable "$VENV/bin/python" && "$VENV/bin/python" -c 'import pytest' 2>/dev/null; then
        echo "reusing $VENV"
    else
        [[ -x $VENV/bin/python ]] || "$BASE_PY" -m venv "$VENV" || echo "cannot create $VENV"
        if [[ -x $VENV/bin/pip ]]; then
            # shellcheck disable=SC2086
            "$VENV/bin/pip" install --quiet $PIP_ARGS "$TORCH_SPEC" &&
                "$VENV/bin/pip" install --quiet $PIP_ARGS -e ".[test]" || echo "pip install failed"
            if "$VENV/bin/python" -c 'import sys, torch; sys.exit(0 if torch.version.cuda else 3)' 2>/dev/null; then :
            elif "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
                echo "$VENV holds a CPU build of torch: pip's index or find-links serves torch-2.13.0+cpu;" \
                     "point pip at the CUDA wheel (PIP_FIND_LINKS, PIP_INDEX_URL) or set QNNSCOPE_GPU_VENV to a new path"
            fi
        fi
    fi
    if [[ $INSTALL != 0 ]] && usable "$VENV/bin/python"; then
        echo "PYTHON=$VENV/bin/python"
    elif PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}" usable "$BASE_PY"; then
        echo "fallback: $BASE_PY's own torch, qnnscope from src/ (PYTHONPATH), nothing installed"
        echo "PYTHON=$BASE_PY"
    else
        echo "no interpreter with a CUDA build of torch and qnnscope's dependencies"
        return 1
    fi
}

export VENV BASE_PY INSTALL TORCH_SPEC PIP_ARGS ROOT
run_stage setup "$T_SETUP" "venv $VENV, $TORCH_SPEC, qnnscope[test]" bash -c "$(declare -f setup usable); setup"
PY=$(sed -n 's/^PYTHON=//p' "$STEM-setup.log" | tail -1)
if [[ -n $PY && $PY != "$VENV/bin/python" ]]; then
    export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
fi
if [[ -n $PY ]]; then
    timeout 30 "$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "GPU seen:",
torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>&1 |
        tee -a "$STEM-setup.log"
fi

if command -v nvidia-smi >/dev/null; then
    run_stage gpu "$T_SMI" nvidia-smi nvidia-smi
else
    skip_stage gpu "nvidia-smi not found"
fi

if [[ -z $PY ]]; then
    skip_stage tests "setup gave no usable interpreter"
    skip_stage bench "setup gave no usable interpreter"
else
    run_stage tests "$T_TESTS" "pytest -k cuda ${CUDA_TEST_FILES[*]}" \
        "$PY" -m pytest -q -rs -p no:cacheprovider --continue-on-collection-errors -k cuda "${CUDA_TEST_FILES[@]}"
    if grep -qiE "^SKIPPED .*cuda" "$STEM-tests.log"; then
        STATUS[tests]="FAILED: CUDA tests skipped (torch sees no GPU): ${STATUS[tests]}"
    fi
    # shellcheck disable=SC2086
    run_stage bench "$T_BENCH" "bench_gpu.py --total-budget $BENCH_BUDGET --out $STEM $BENCH_ARGS" \
        "$PY" benchmarks/bench_gpu.py --total-budget "$BENCH_BUDGET" --out "$STEM" $BENCH_ARGS
fi

{
    echo "== summary ($(date '+%F %T'), $SECONDS s)"
    for name in "${ORDER[@]}"; do
        printf '  %-6s %s\n' "$name" "${STATUS[$name]}"
    done
    [[ -f $STEM.md ]] && echo "tables: $STEM.md, $STEM.csv"
} | tee "$STEM-summary.txt"
for name in "${ORDER[@]}"; do
    [[ ${STATUS[$name]} == ok* ]] || exit 1
done
exit 0
