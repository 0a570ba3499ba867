#!/usr/bin/env bash
# Nightly batch-ocr run for cron or a systemd timer: one output per night, a dated log, the job's
# exit code passed through.
#
#   jobs/nightly.sh JOB.toml [extra `batch-ocr run` options, e.g. --reprocess]
#
# Environment (all optional):
#   OUTPUT         output file; date(1) % codes are filled in, e.g. /srv/ocr/ocr-%F.csv gives one
#                  file per night. Unset: the job file's `output` (one master file, master = true).
#   LOG_DIR        where logs go (default /var/log/batch-ocr); one file per night,
#                  nightly-YYYY-MM-DD.log, appended to if the job runs twice that night.
#   KEEP_LOG_DAYS  logs older than this many days are deleted (default 30).
#   BATCH_OCR      the batch-ocr command (default: batch-ocr on PATH).
#
# Exit codes are batch-ocr's: 0 all read, 1 some files have an error row, 2 usage/model/output
# problem, 3 the previous run still holds the lock (nothing was done), 130 interrupted (the next
# run continues it: --resume is always passed). When it is not 0, one line goes to stderr, which
# cron mails and systemd keeps in its journal; everything else goes to the log.
set -u -o pipefail

job=${1:?usage: nightly.sh JOB.toml [batch-ocr run options]}
shift
batch_ocr=${BATCH_OCR:-batch-ocr}
log_dir=${LOG_DIR:-/var/log/batch-ocr}
keep_days=${KEEP_LOG_DAYS:-30}

mkdir -p "$log_dir" || exit 2
log="$log_dir/nightly-$(date +%F).log"

args=(run --config "$job" --resume)
output=""
if [[ -n "${OUTPUT:-}" ]]; then
    output=$(date +"$OUTPUT")
    args+=(-o "$output")
fi
args+=("$@")

meaning() {
    case $1 in
        0) echo "all files read" ;;
        1) echo "finished; some files have status error" ;;
        2) echo "usage, model or output problem" ;;
        3) echo "another run still holds the lock; nothing done" ;;
        130 | 143) echo "interrupted; the next run continues it" ;;
        *) echo "unexpected failure" ;;
    esac
}

# Run the job in the background and wait, so a SIGTERM/SIGINT sent to this script (cron user,
# `systemctl stop`) reaches the job, which then keeps its journal and exits 130.
child=""
signalled=0
forward() {
    signalled=1
    [[ -n "$child" ]] && kill -s "$1" "$child" 2>/dev/null
}
trap 'forward TERM' TERM
trap 'forward INT' INT

{
    echo "=== $(date -Iseconds) start: $batch_ocr ${args[*]}"
    if [[ -n "$output" ]]; then
        # Journals of earlier nights' outputs belong to runs that never finished: their files
        # were not recorded in the state, so tonight reads them again. Say so; keep the file.
        for stale in "$(dirname "$output")"/*.journal.jsonl; do
            [[ -e "$stale" && "$stale" != "$output.journal.jsonl" ]] &&
                echo "=== note: $stale is left from an unfinished run; its files are read again"
        done
    fi
} >>"$log" 2>&1

"$batch_ocr" "${args[@]}" >>"$log" 2>&1 &
child=$!
wait "$child"
rc=$?
# A trapped signal ends `wait` early (status > 128); wait again for the job's own exit code.
while ((signalled)); do
    signalled=0
    wait "$child"
    rc=$?
done
trap - TERM INT

echo "=== $(date -Iseconds) exit $rc: $(meaning "$rc")" >>"$log"
if [[ -n "$output" ]]; then
    # Lock files of earlier nights' outputs guard files nobody will write again.
    find "$(dirname "$output")" -maxdepth 1 -name '*.lock' ! -path "$output.lock" -mtime +1 \
        -delete 2>/dev/null
fi
find "$log_dir" -maxdepth 1 -name 'nightly-*.log' -mtime +"$keep_days" -delete 2>/dev/null

if [[ $rc -ne 0 ]]; then
    echo "batch-ocr nightly: exit $rc ($(meaning "$rc")); log: $log" >&2
fi
exit "$rc"
