<?php
// An exec handler in PHP, for hurah/events users moving to hurah:
//   hurah watch mailer user/signup --exec "php examples/php_handler.php" /var/lib/hurah
// The task's JSON arrives on stdin, exactly as in the task file; its main fields
// are also in HURAH_* environment variables. The exit status is the result, with
// the numbers of hurah/events' Task constants. See docs/migrating-from-php.md.

const SUCCESS = 0; // Task::SUCCESS: to archive/
const FAILURE = 1; // Task::FAILURE: stays first in the inbox, the listener pauses
const RETRY = 2;   // Task::RETRY: tried again later, up to --max-attempts times
const INVALID = 3; // Task::INVALID: to error/

$task = json_decode(stream_get_contents(STDIN), true);
if (!is_array($task) || !array_key_exists('payload', $task)) {
    fwrite(STDERR, "not a task on stdin\n");
    exit(INVALID);
}

$payload = $task['payload'];
if (!isset($payload['email'])) {
    fwrite(STDERR, "task {$task['sequence']} has no email\n");
    exit(INVALID);
}

fwrite(STDERR, sprintf(
    "%s: welcome mail to %s (event %s, retry %d)\n",
    getenv('HURAH_LISTENER'),
    $payload['email'],
    getenv('HURAH_EVENT_TYPE'),
    (int) ($task['retry_count'] ?? 0),
));
exit(SUCCESS);
