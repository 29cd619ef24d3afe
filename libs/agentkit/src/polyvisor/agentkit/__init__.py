"""agentkit: what every hypervisor agent shares.

- ``driver``: the Driver protocol and its dataclasses (the whole hypervisor boundary);
- ``runtime``: ``AgentRuntime``, wiring the rest around one driver; ``service``: the process;
- ``consumer`` / ``dispatcher`` / ``command_handler``: commands from ``agent.<host>.cmd``,
  ordered per server, bounded across servers, answered with events;
- ``reporter``, ``reconciler`` (``reconcile_plan`` is its pure core), ``image_cache``
  (``image_source`` feeds it from the image service), ``generations``, ``credentials``;
- ``fake`` and ``testing``: a FakeDriver and small real servers for tests.
"""
