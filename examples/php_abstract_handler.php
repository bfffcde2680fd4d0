<?php
// Runs an existing hurah/events AbstractHandler subclass as a hurah exec handler, unchanged:
//
//   hurah watch image_scaler product/created /var/lib/hurah \
//     --exec "php examples/php_abstract_handler.php vendor/autoload.php 'App\ImageScaler'"
//
// The task file's JSON comes on stdin, HURAH_LISTENER and HURAH_EVENT_TYPE in the environment; the exit status is
// the Task code the handler returns (an exception: status 100, retried while --max-attempts allows, then error/).
// What a plain `new Context($payload)` would miss, done here:
//   - the Context gets the task's sequence, count and delivery (getSequence() fails on an unset one);
//   - handleTask() is protected: it is called through a closure bound to the handler;
//   - the constructor makes <root>/<type>/<name>_listener/inbox: it gets a scratch root, not the event root.
// --max-attempts replaces maxAttempts(): hurah does not call into PHP to ask.
declare(strict_types=1);

use Hurah\Event\Context;
use Hurah\Event\EventType;
use Hurah\Event\Helper\HandlerName;
use Hurah\Types\Type\Path;

if ($argc !== 3) {
    fwrite(STDERR, "usage: php php_abstract_handler.php AUTOLOAD_PHP HANDLER_CLASS\n");
    exit(100);
}
require $argv[1];
$class = $argv[2];

$task = json_decode(stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);
$context = new Context($task['payload']);
$context->setSequence($task['sequence']);
$context->setCount($task['count']);
$context->setDelivery($task['delivery']);

$type = getenv('HURAH_EVENT_TYPE');
$scratch = sys_get_temp_dir() . '/hurah-php-handler-' . getmypid();
$handler = new $class(
    new HandlerName((string) getenv('HURAH_LISTENER')),
    $type === '' || $type === false ? new EventType() : EventType::fromString($type),
    Path::make($scratch),
);
exec('rm -rf ' . escapeshellarg($scratch));

try {
    $result = Closure::bind(fn($context) => $this->handleTask($context), $handler, $class)($context);
} catch (Throwable $error) {
    fwrite(STDERR, get_class($error) . ': ' . $error->getMessage() . "\n");
    exit(100);
}
exit($result);
