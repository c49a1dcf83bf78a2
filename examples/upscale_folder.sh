#!/usr/bin/env bash
# Upscale every video under a folder, keeping the folder layout, the way batches are run:
# resumable (re-run it after a stop: finished files are skipped, and the file it was in goes
# on from its journal), with a JSON line per file in a log for scripts, and an exit code
# that says whether anything failed.
#
#   examples/upscale_folder.sh ~/Videos/archive ~/Videos/archive-4x
#   examples/upscale_folder.sh ~/Videos/dvds ~/Videos/dvds-1080 --height 1080 --crf 20
#
# Options after the two folders go to `vsrt upscale` as they are.
set -uo pipefail

src="${1:?usage: $0 SOURCE_FOLDER OUTPUT_FOLDER [vsrt upscale options]}"
dst="${2:?usage: $0 SOURCE_FOLDER OUTPUT_FOLDER [vsrt upscale options]}"
shift 2
log="$dst/vsrt-log.jsonl"
mkdir -p "$dst"

vsrt upscale "$src" -o "$dst" --recursive --skip-existing --resumable --json "$@" >>"$log"
status=$?

case $status in
  0) echo "all videos done; details in $log" ;;
  3) echo "some videos failed (see \"status\": \"failed\" in $log); the rest are done" >&2 ;;
  4) echo "model weights missing: run 'vsrt models' to see how to get them" >&2 ;;
  130|143) echo "stopped; run the same command again to continue" >&2 ;;
  *) echo "vsrt failed with exit code $status" >&2 ;;
esac
exit $status
