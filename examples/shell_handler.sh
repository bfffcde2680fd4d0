#!/bin/sh
# An exec handler in shell:
#   hurah watch mailer user/signup --exec "sh examples/shell_handler.sh" /var/lib/hurah
# The task's JSON arrives on stdin; its main fields are in HURAH_* variables.
# The exit status is the result: 0 SUCCESS, 1 FAILURE, 2 RETRY, 3 INVALID.
# Everything written to stderr goes to hurah's log, line by line, as
# "mailer #<sequence> | <line>"; its last lines are recorded in the task's
# failure record ("output") for every result but SUCCESS.
set -eu

task=$(cat)
email=$(printf '%s' "$task" | sed -n 's/.*"email":"\([^"]*\)".*/\1/p')

if [ -z "$email" ]; then
  echo "task $HURAH_SEQUENCE of $HURAH_LISTENER has no email" >&2
  exit 3 # INVALID: to error/, with this message recorded in its failure record
fi

echo "$HURAH_LISTENER: welcome mail to $email (event $HURAH_EVENT_TYPE, retry $HURAH_RETRY_COUNT)" >&2
exit 0 # SUCCESS: to archive/
