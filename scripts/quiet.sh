# quiet.sh — sourced by the steps that `make demo` and `make test` take before
# anything of backlogd runs (scripts/install-deps.sh, scripts/build.sh), so that
# a newcomer sees one line of progress per step instead of apt's and make's
# chatter. scripts/librdkafka.sh has its own copy of quietly(): the Dockerfile
# copies that script alone.
#
# quietly LOG COMMAND...   runs COMMAND with its output appended to LOG. When it
#   fails, its output is printed to stderr whole, less the lines that only
#   report progress (make's "[ 42%] Building C object", "Entering directory",
#   ninja's "[12/80]", dpkg's "Unpacking ..."), then where the log is; the
#   status is COMMAND's. BACKLOGD_VERBOSE=1 shows everything as it comes.

QUIET_CHATTER='^\[ *[0-9]+%\] (Building|Linking|Built target|Generating)|^g?make(\[[0-9]+\])?: (Entering|Leaving) directory|^\[[0-9]+/[0-9]+\] |^(Selecting previously unselected package|Preparing to unpack|Unpacking|Setting up|Processing triggers for|\(Reading database) '

quietly() {
  local log=$1 first_line status
  shift
  if [[ ${BACKLOGD_VERBOSE:-0} == 1 ]]; then
    "$@" 2>&1 | tee -a "$log"
    return "${PIPESTATUS[0]}"
  fi
  first_line=$(($(wc -l <"$log" 2>/dev/null || echo 0) + 1))
  "$@" >>"$log" 2>&1 && return 0
  status=$?
  {
    echo "---- '$*' failed (exit status $status); its output:"
    tail -n "+$first_line" "$log" | grep -Ev "$QUIET_CHATTER" || true
    echo "---- the whole log: $log"
  } >&2
  return "$status"
}
