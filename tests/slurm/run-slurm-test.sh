#!/bin/bash
# End-to-end test of qtomo on a real one-node Slurm cluster on localhost.
#
#   sudo QTOMO=/path/to/qtomo tests/slurm/run-slurm-test.sh
#
# Needs root and Debian's slurm-wlm and munge packages; builds nothing. In a
# temporary directory it starts a private munged (own key and socket),
# slurmctld and slurmd from a generated slurm.conf, then:
#
#  1. runs a simulated batch (2 qubits, 400 samples) as the stepped array
#     --array=10-40:10 through contrib/qtomo.sbatch, merges it through
#     contrib/qtomo-merge.sbatch (afterok dependency), and checks the JSONL
#     export has every index exactly once and equals a single-machine run's;
#  2. runs a slower batch as the same array, stops two tasks mid-run --
#     one cancelled (scancel) and resubmitted as a new job with its shard
#     pinned (QTOMO_SHARD), one sent SIGTERM through the batch shell (as
#     --signal=B:TERM@120 does before the time limit) and requeued with
#     `scontrol requeue` -- and checks both resumed without recomputing and
#     the merge is again exactly the single-machine result.
#
# Everything it started is stopped by pid on exit. Prints "SKIP: <reason>" and
# exits 0 only when the Slurm/munge programs are not installed.
# Environment: QTOMO (required), QTOMO_SLURM_KEEP=1 keeps the temp directory,
# QTOMO_SLURM_PORT (slurmctld port, default 6817; slurmd uses the next one).

set -Eeuo pipefail

log() { printf '[slurm-test %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
    log "FAIL: $*"
    exit 1
}

missing=()
for prog in munged munge unmunge slurmctld slurmd sbatch squeue scontrol scancel sinfo; do
    command -v "$prog" >/dev/null 2>&1 || missing+=("$prog")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "SKIP: Slurm/munge programs not installed (${missing[*]}); apt-get install -y slurm-wlm munge"
    exit 0
fi
[[ $(id -u) -eq 0 ]] || die "must run as root (slurmd and munged are started with SlurmUser=root)"
[[ -n "${QTOMO:-}" && -x "${QTOMO}" ]] || die "set QTOMO to the qtomo binary (got '${QTOMO:-}')"
QTOMO=$(realpath "$QTOMO")
export QTOMO
command -v jq >/dev/null 2>&1 || die "jq is required (apt-get install -y jq)"

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
sbatch_script=$repo/contrib/qtomo.sbatch
merge_script=$repo/contrib/qtomo-merge.sbatch

work=$(mktemp -d /tmp/qtomo-slurm.XXXXXX)
chmod 755 "$work"
started_pids=()

stop_pid() { # name pidfile
    local name=$1 pidfile=$2 pid
    [[ -s $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    kill -0 "$pid" 2>/dev/null || return 0
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    log "$name (pid $pid) ignored SIGTERM; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    trap - ERR
    if [[ -s $work/slurmctld.pid ]] && kill -0 "$(cat "$work/slurmctld.pid")" 2>/dev/null; then
        # Cancel our jobs first so slurmd kills their processes.
        scancel --quiet --user=root 2>/dev/null
        for _ in $(seq 25); do
            [[ -z $(squeue -h 2>/dev/null) ]] && break
            sleep 0.2
        done
    fi
    stop_pid slurmd "$work/slurmd.pid"
    stop_pid slurmctld "$work/slurmctld.pid"
    stop_pid munged "$work/munge/munged.pid"
    for pid in "${started_pids[@]}"; do
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    if [[ $rc -ne 0 ]]; then
        for f in "$work"/slurmctld.log "$work"/slurmd.log "$work"/logs/*; do
            [[ -f $f ]] || continue
            echo "----- tail $f" >&2
            tail -n 30 "$f" >&2
        done
    fi
    if [[ "${QTOMO_SLURM_KEEP:-0}" == 1 || $rc -ne 0 ]]; then
        log "kept $work"
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Name the command when `set -e` stops the script (Slurm clients exit with
# Slurm error numbers modulo 256, e.g. 229 for "already completing").
trap 'log "FAIL: line $LINENO: \"$BASH_COMMAND\" exited $?"' ERR

wait_for() { # seconds description command...
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        ((SECONDS < deadline)) || die "timed out after ${seconds}s waiting for $what"
        sleep 0.5
    done
}

# ---------------------------------------------------------------- munge
mkdir -p "$work/munge" "$work/logs" "$work/spool" "$work/state"
chmod 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munge_socket=$work/munge/munge.socket
/usr/sbin/munged --force \
    --socket="$munge_socket" \
    --key-file="$work/munge/munge.key" \
    --pid-file="$work/munge/munged.pid" \
    --log-file="$work/munge/munged.log" \
    --seed-file="$work/munge/munged.seed"
wait_for 10 "munged pid file" test -s "$work/munge/munged.pid"
started_pids+=("$(cat "$work/munge/munged.pid")")
munge -n -S "$munge_socket" | unmunge -S "$munge_socket" >/dev/null ||
    die "munge credential round trip failed"
log "munged up (pid $(cat "$work/munge/munged.pid"))"

# ---------------------------------------------------------------- slurm
host=$(hostname -s)
cpus=$(nproc)
mem_mib=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
port=${QTOMO_SLURM_PORT:-6817}
export SLURM_CONF=$work/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=qtomotest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$munge_socket,cred_expire=10
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=kill_invalid_depend
ReturnToService=2
KillWait=30
MinJobAge=600
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mib State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -f "$SLURM_CONF"
wait_for 20 "slurmctld pid file" test -s "$work/slurmctld.pid"
started_pids+=("$(cat "$work/slurmctld.pid")")
slurmd -f "$SLURM_CONF"
wait_for 20 "slurmd pid file" test -s "$work/slurmd.pid"
started_pids+=("$(cat "$work/slurmd.pid")")
node_idle() { sinfo -h -n "$host" -o '%t' 2>/dev/null | grep -qx 'idle'; }
wait_for 60 "node $host idle in sinfo" node_idle
log "slurmctld (pid $(cat "$work/slurmctld.pid")) and slurmd (pid $(cat "$work/slurmd.pid")) up; node $host idle, $cpus CPUs"

# ---------------------------------------------------------------- helpers
array=10-40:10
tasks=(10 20 30 40)
common_sbatch=(--chdir="$work" --cpus-per-task=1 --time=30)

export_jsonl() { # run_dir out
    "$QTOMO" -q export "$1" --format jsonl --out "$2"
}

check_exact() { # merged_jsonl reference_jsonl total label
    local merged=$1 reference=$2 total=$3 label=$4
    local lines distinct want
    lines=$(wc -l <"$merged")
    distinct=$(jq -r .index "$merged" | sort -n | uniq | wc -l)
    want=$(seq 0 $((total - 1)) | sha256sum)
    [[ $lines -eq $total ]] || die "$label: $lines lines, expected $total"
    [[ $distinct -eq $total ]] || die "$label: $distinct distinct indices, expected $total"
    [[ $(jq -r .index "$merged" | sha256sum) == "$want" ]] ||
        die "$label: indices are not 0..$((total - 1)) in order"
    [[ $(jq -r 'select(.status != "ok") | .index' "$merged" | wc -l) -eq 0 ]] ||
        die "$label: some samples are not ok"
    # The JSONL export has no timing or pid fields (worker_pid and elapsed_us
    # stay in the results log), so the exports must match byte for byte:
    # index, id, status and every method's rho and metrics.
    cmp -s "$merged" "$reference" ||
        die "$label: merged export differs from the single-machine export ($(cmp "$merged" "$reference" 2>&1 | head -1))"
    log "$label: $total indices exactly once; identical to the single-machine run"
}

check_shards() { # run_root total
    local root=$1 total=$2 t pos lo hi want_total got_total shard
    for pos in 0 1 2 3; do
        t=${tasks[$pos]}
        lo=$((pos * total / 4))
        hi=$(((pos + 1) * total / 4))
        want_total=$((hi - lo))
        shard=$(jq -c .fingerprint.shard "$root/shard-$t/manifest.json")
        [[ $shard == "[$pos,4]" ]] || die "task $t: manifest shard $shard, expected [$pos,4]"
        got_total=$(jq .total "$root/shard-$t/summary.json")
        [[ $got_total -eq $want_total ]] || die "task $t: summary total $got_total, expected $want_total"
        [[ $(jq -r .status "$root/shard-$t/summary.json") == complete ]] ||
            die "task $t: summary status is not complete"
    done
    log "task ids ${tasks[*]} ran shards 0/4..3/4 with the balanced ranges of $total"
}

job_state() { # jobid_task
    scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2
}

# ---------------------------------------------------------------- 1. exact
t0=$SECONDS
"$QTOMO" -q simulate --basis pauli --qubits 2 --samples 400 --shots 1000 --seed 7 \
    --out "$work/fast.csv"
"$QTOMO" -q run "$work/fast.csv" --out "$work/fast-single" --workers 0
export_jsonl "$work/fast-single" "$work/fast-single.jsonl"

log "submitting sbatch --wait --array=$array (fast batch)"
rc=0
job1=$(sbatch --parsable --wait --array="$array" "${common_sbatch[@]}" \
    --output="$work/logs/fast-%A_%a.out" \
    "$sbatch_script" "$work/fast.csv" "$work/fast") || rc=$?
job1=${job1%%;*}
[[ $rc -eq 0 ]] || die "array job $job1 exited $rc"
check_shards "$work/fast" 400
log "submitting the merge with --dependency=afterok:$job1"
sbatch --parsable --wait --dependency="afterok:$job1" --chdir="$work" \
    --output="$work/logs/merge-%j.out" "$merge_script" "$work/fast" >/dev/null ||
    die "merge job failed"
check_exact "$work/fast/merged/results.jsonl" "$work/fast-single.jsonl" 400 "fast batch"
log "part 1 passed in $((SECONDS - t0)) s"

# ---------------------------------------------------------------- 2. stop + resume
t0=$SECONDS
# Each task must still be running when it is stopped. Its 100 samples
# compute in under a second (4 qubits, tol 1e-7), so the workers also sleep
# 40 ms before each sample (QTOMO_FAULT=delay:40, a qtomo built with the
# fault-injection feature, as `cargo test --all-features` builds it): about
# 5 s a task without loading the CPUs the other tests run on.
slow_total=${QTOMO_SLURM_SLOW_SAMPLES:-400}
slow_delay=QTOMO_FAULT=delay:${QTOMO_SLURM_SLOW_DELAY_MS:-40}
slow_args=(--tol 1e-7)
"$QTOMO" -q simulate --basis pauli --qubits 4 --samples "$slow_total" --shots 200 --seed 11 \
    --out "$work/slow.csv"

job2=$(sbatch --parsable --array="$array" "${common_sbatch[@]}" --export=ALL,"$slow_delay" \
    --output="$work/logs/slow-%A_%a.out" \
    "$sbatch_script" "$work/slow.csv" "$work/slow" "${slow_args[@]}")
job2=${job2%%;*}
log "submitted slow array job $job2"

mid_run() { # task: running and some records written, summary not yet
    local dir=$work/slow/shard-$1
    [[ $(job_state "${job2}_$1") == RUNNING && -s $dir/results.log && ! -e $dir/summary.json ]]
}
records() { # run_dir: number of records in the JSONL partial export
    "$QTOMO" -q export "$1" --format jsonl --partial --out "$work/partial.jsonl" 2>/dev/null
    jq -r 'select(.status == "ok") | .index' "$work/partial.jsonl" | wc -l
}

# Task 10: cancelled mid-run (plain scancel: SIGTERM, then SIGKILL after
# KillWait), then resubmitted as a new one-task job with its shard pinned.
wait_for 120 "task ${job2}_10 running with results" mid_run 10
# scancel may report an error (ESLURM_ALREADY_DONE, exit 229) when it has to
# retry and the task has meanwhile ended; what counts is checked below.
scancel "${job2}_10" || log "scancel ${job2}_10 exited $? (checking the effect)"
wait_for 60 "task ${job2}_10 to end" bash -c "[[ \$(scontrol -o show job ${job2}_10 | grep -o 'JobState=[A-Z_]*') != JobState=RUNNING ]]"
wait_for 30 "shard-10 summary" test -s "$work/slow/shard-10/summary.json"
[[ $(jq -r .status "$work/slow/shard-10/summary.json") == interrupted ]] ||
    die "task 10 was not interrupted mid-run (summary: $(cat "$work/slow/shard-10/summary.json")); make the slow batch slower"
done10=$(records "$work/slow/shard-10")
log "task ${job2}_10 cancelled mid-run ($(job_state "${job2}_10")) with $done10 samples saved"

# Task 20: SIGTERM to the batch shell only, as --signal=B:TERM@120 sends it;
# qtomo (exec'd, so it is that shell) drains and exits 75; then requeued.
wait_for 180 "task ${job2}_20 running with results" mid_run 20
scancel --batch --signal=TERM "${job2}_20" ||
    log "scancel --batch --signal=TERM ${job2}_20 exited $? (checking the effect)"
wait_for 60 "shard-20 summary" test -s "$work/slow/shard-20/summary.json"
[[ $(jq -r .status "$work/slow/shard-20/summary.json") == interrupted ]] ||
    die "task 20 was not interrupted mid-run (summary: $(cat "$work/slow/shard-20/summary.json"))"
done20=$(records "$work/slow/shard-20")
wait_for 60 "task ${job2}_20 to end" bash -c "[[ \$(scontrol -o show job ${job2}_20 | grep -o 'JobState=[A-Z_]*') != JobState=RUNNING ]]"
state20=$(job_state "${job2}_20")
exit20=$(scontrol -o show job "${job2}_20" | grep -o ' ExitCode=[0-9:]*' | cut -d= -f2)
[[ $exit20 == 75:0 ]] || die "task 20 ended $state20 with ExitCode=$exit20, expected 75:0"
log "task ${job2}_20 got SIGTERM in its batch shell: exit 75 ($state20) with $done20 samples saved; requeueing"
scontrol requeue "${job2}_20" || die "scontrol requeue ${job2}_20 failed"

# The resubmission of task 10 as a new job: pinned to its shard (position 0).
rc=0
sbatch --parsable --wait --array=10 "${common_sbatch[@]}" --export=ALL,QTOMO_SHARD=0/4,"$slow_delay" \
    --output="$work/logs/slow-resubmit-%A_%a.out" \
    "$sbatch_script" "$work/slow.csv" "$work/slow" "${slow_args[@]}" >/dev/null || rc=$?
[[ $rc -eq 0 ]] || die "resubmitted task 10 exited $rc"

# Meanwhile compute the single-machine reference.
"$QTOMO" -q run "$work/slow.csv" --out "$work/slow-single" --workers 0 "${slow_args[@]}"
export_jsonl "$work/slow-single" "$work/slow-single.jsonl"

array_done() { [[ -z $(squeue -h -j "$job2" 2>/dev/null) ]]; }
wait_for 600 "array job $job2 to finish" array_done
for t in "${tasks[@]}"; do
    s=$(job_state "${job2}_$t")
    case $t in
    10) [[ $s == CANCELLED ]] || die "task 10 ended $s, expected CANCELLED (resubmitted separately)" ;;
    *) [[ $s == COMPLETED ]] || die "task $t ended $s, expected COMPLETED" ;;
    esac
done
check_shards "$work/slow" "$slow_total"
# Resumed, not recomputed: the resumed run logs how many samples it had left.
grep -q "pending=$((slow_total / 4 - done10))" "$work"/logs/slow-resubmit-*_10.out ||
    die "resubmitted task 10 did not resume from $done10 saved samples: $(grep -h 'run started' "$work"/logs/slow-resubmit-*_10.out)"
[[ $(grep -c 'run started' "$work/logs/slow-${job2}_20.out") -eq 2 ]] ||
    die "task 20's log does not show two runs (first and requeued)"
grep -q "pending=$((slow_total / 4 - done20))" "$work/logs/slow-${job2}_20.out" ||
    die "requeued task 20 did not resume from $done20 saved samples: $(grep -h 'run started' "$work/logs/slow-${job2}_20.out")"
log "task 10 resumed after resubmission, task 20 after requeue, each skipping its saved samples"

"$QTOMO" -q merge "$work"/slow/shard-{10,20,30,40} --out "$work/slow-merged"
export_jsonl "$work/slow-merged" "$work/slow-merged.jsonl"
check_exact "$work/slow-merged.jsonl" "$work/slow-single.jsonl" "$slow_total" "slow batch after cancel+resume"
log "part 2 passed in $((SECONDS - t0)) s"
log "PASS"
