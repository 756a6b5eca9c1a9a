#!/bin/sh
# Cloudflare set-up for the pipeline: the R2 bucket, the event queue with an HTTP pull
# consumer, and the notification rule that sends every new inbox manifest to the queue.
# Idempotent enough to re-run: "already exists" answers are reported and skipped.
#
#   BUCKET=wan-pipeline QUEUE=wan-pipeline-events deploy/r2/setup.sh
#
# Needs: npx (Node.js) and `npx wrangler login` done once (or CLOUDFLARE_API_TOKEN set).
# Docs: https://developers.cloudflare.com/r2/buckets/event-notifications/
#       https://developers.cloudflare.com/queues/configuration/pull-consumers/
set -eu

BUCKET="${BUCKET:-wan-pipeline}"
QUEUE="${QUEUE:-wan-pipeline-events}"
DLQ="${DLQ:-$QUEUE-dlq}"
WRANGLER="${WRANGLER:-npx wrangler}"

step() { printf '\n== %s\n' "$*"; }
tolerate_existing() {
  # Run a wrangler command; an "already exists" failure means a previous run did it.
  if ! output=$("$@" 2>&1); then
    case "$output" in
      *"already exists"*|*"already has"*|*"already taken"*) echo "already done: $*";;
      *) echo "$output" >&2; exit 1;;
    esac
  else
    echo "$output"
  fi
}

step "bucket $BUCKET"
tolerate_existing $WRANGLER r2 bucket create "$BUCKET"

step "queue $QUEUE and its dead-letter queue $DLQ"
tolerate_existing $WRANGLER queues create "$QUEUE"
tolerate_existing $WRANGLER queues create "$DLQ"

step "HTTP pull consumer on $QUEUE"
# Ten deliveries before a message goes to the DLQ: a start that keeps failing is retried
# with a growing delay by the consumer, and reconcile picks up whatever is dropped.
tolerate_existing $WRANGLER queues consumer http add "$QUEUE" \
  --batch-size 100 \
  --message-retries 10 \
  --dead-letter-queue "$DLQ" \
  --visibility-timeout-secs 60

step "notification rule: object-create on inbox/**/manifest.json → $QUEUE"
tolerate_existing $WRANGLER r2 bucket notification create "$BUCKET" \
  --event-type object-create \
  --queue "$QUEUE" \
  --prefix "inbox/" \
  --suffix "manifest.json"

step "what to put in deploy/pipeline.env"
$WRANGLER queues info "$QUEUE"
cat <<ENV

EVENT_SOURCE=r2
R2_BUCKET_NAME=$BUCKET
CF_QUEUE_ID=<the queue id printed above>
CF_ACCOUNT_ID=<your account id: npx wrangler whoami>
CF_API_TOKEN=<an API token with Queues Edit and Workers R2 Storage Read>
R2_ENDPOINT_URL=https://<account id>.r2.cloudflarestorage.com
R2_REGION=auto
R2_ACCESS_KEY_ID=<an R2 API token's access key id, Object Read & Write on $BUCKET>
R2_SECRET_ACCESS_KEY=<its secret>

Then: pipeline setup schedules && pipeline doctor
ENV
