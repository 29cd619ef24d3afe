"""The message bus: NATS and JetStream behind a small API, one module per concern.

- `client`: `Bus`, the one connection (streams, publish, consumers, watches, buckets);
- `consumer`: `PullConsumer`, at-least-once delivery to a handler;
- `core`: plain NATS subscriptions; `watch`: ordered watches of a stream;
- `kv`: key/value buckets; `messages`: `BusMessage`, `PublishAck`;
- `subjects`: `subject_token`; `errors`: every nats error mapped to the project's.

Only this package imports nats.
"""

# First of all: nats, without the aiohttp it would import (see there).
from polyvisor.common.bus import lean_nats  # noqa: F401
