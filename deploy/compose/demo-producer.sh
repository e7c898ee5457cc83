#!/usr/bin/env bash
# The demo producer of docker-compose.yml: every DEMO_INTERVAL_S seconds, a batch of
# DEMO_BATCH SUBMITTED TaskEvents as JSON lines, piped into `backlogd produce` (which
# encodes them with the TaskEvent contract, registers it with the Schema Registry and
# publishes them to tasks.events). Tasks spread over the configured domains, carry
# deadlines 5 to 60 minutes ahead, and one in five depends on the task before it.
# Every DEMO_POISON_EVERY batches, one poison pill, a task of an unknown domain, goes
# out with --no-validate: backlogd dead-letters it (contract.violation).
#
#   demo-producer.sh            the loop (docker compose's demo-producer service)
#   demo-producer.sh --print N  print N batches on stdout and exit (tests, dry runs)
set -euo pipefail

batch_size=${DEMO_BATCH:-20}
interval=${DEMO_INTERVAL_S:-2}
poison_every=${DEMO_POISON_EVERY:-10}
IFS=, read -r -a domains <<<"${DEMO_DOMAINS:-data_preparation,model_inference,evaluation,remediation}"
run=$(date +%s)

task_type() {
  case $1 in
    data_preparation) echo prepare_dataset ;;
    model_inference) echo batch_inference ;;
    evaluation) echo evaluate_model ;;
    remediation) echo rollback_model ;;
    *) echo generic_task ;;
  esac
}

# One batch of SUBMITTED events, one JSON line each. Risk stays below 0.7, under the
# example policy's approval thresholds, so no demo task waits for an approval.
emit_batch() {
  local batch=$1 i id domain deadline deps previous=""
  for ((i = 0; i < batch_size; i++)); do
    id="demo-$run-$batch-$i"
    domain=${domains[RANDOM % ${#domains[@]}]}
    deadline=$(($(date +%s%3N) + (5 + RANDOM % 56) * 60000))
    deps=""
    if [[ -n $previous ]] && ((RANDOM % 5 == 0)); then
      deps=",\"depends_on\":[\"$previous\"]"
    fi
    printf '{"task_id":"%s","event_type":"SUBMITTED","producer":"compose-demo","task_type":"%s","domain":"%s","business_value":0.%02d,"risk":0.%02d,"deadline":%d%s,"labels":{"source":"docker-compose"}}\n' \
      "$id" "$(task_type "$domain")" "$domain" $((RANDOM % 100)) $((RANDOM % 70)) "$deadline" "$deps"
    previous=$id
  done
}

emit_poison() {
  printf '{"task_id":"demo-%s-%s-poison","event_type":"SUBMITTED","producer":"compose-demo","task_type":"generic_task","domain":"no_such_domain","business_value":0.5,"risk":0.5}\n' \
    "$run" "$1"
}

if [[ ${1:-} == --print ]]; then
  for ((b = 1; b <= ${2:-1}; b++)); do
    emit_batch "$b"
    if ((poison_every > 0 && b % poison_every == 0)); then emit_poison "$b"; fi
  done
  exit 0
fi

trap 'exit 0' TERM INT
batch=0
while :; do
  batch=$((batch + 1))
  # A failed batch (the registry still starting, a broker away) is reported and the
  # loop goes on: this is a demo load, not a delivery guarantee.
  emit_batch "$batch" | backlogd produce || echo "demo-producer: batch $batch was not fully delivered" >&2
  if ((poison_every > 0 && batch % poison_every == 0)); then
    emit_poison "$batch" | backlogd produce --no-validate || echo "demo-producer: poison pill $batch failed" >&2
  fi
  sleep "$interval" &
  wait $!
done
