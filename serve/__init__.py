"""``perpx serve``: the engine as a service on Redis streams, with a hot standby and shards.

``serve.commandstream`` what gateways append and serve reads; ``serve.server``
the process (standby, active, fail-over); ``serve.lease`` who may write;
``serve.replica`` a standby's state; ``serve.gateway`` routing commands to the
shard that owns their market. The picture is in ``docs/deployment.md``.
"""
