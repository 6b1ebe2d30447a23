"""The only package that touches private names of faust, mode or aiokafka.

Everything else talks to Kafka through Faust's public API or through this package's small
typed interface (:class:`streams.faust_adapter.source.FaustSource`, which implements
:class:`streams.worker.source.SourceConsumer`); see docs/architecture.md. Importing the package
checks that every private name it uses exists on the installed versions
(:mod:`streams.faust_adapter.private_names`).
"""

from streams.faust_adapter.private_names import check_private_names, required_names

check_private_names(required_names())
