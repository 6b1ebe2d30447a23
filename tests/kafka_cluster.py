"""A KRaft cluster of several Apache Kafka nodes on 127.0.0.1, each broker and controller, built
from :class:`tests.kafka_broker.KafkaNode`: one cluster id, one voters string, the replication
settings for its size. Nodes start in parallel and are stopped by PID; a node can be SIGKILLed
and restarted with the same id and data directory (a crashed broker coming back)."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.kafka_broker import KafkaNode, new_cluster_id, replication_settings
from tests.servers import free_port

# 256-384 MB of heap per node: three nodes and three workers fit on 2 cores.
CLUSTER_HEAP = ("-Xms256m", "-Xmx384m")


class KafkaCluster:
    """``size`` KRaft nodes, replication ``min(size, 3)`` and min ISR 2 from three nodes."""

    def __init__(self, workdir: Path, size: int = 3, log_dir: Path | None = None) -> None:
        from tests.kafka_broker import JVM_OPTIONS

        cluster_id = new_cluster_id()
        ports = [{"PLAINTEXT": free_port(), "CONTROLLER": free_port()} for _ in range(size)]
        voters = ",".join(f"{i + 1}@127.0.0.1:{p['CONTROLLER']}" for i, p in enumerate(ports))
        jvm = tuple(o for o in JVM_OPTIONS if not o.startswith(("-Xms", "-Xmx"))) + CLUSTER_HEAP
        settings = {
            **replication_settings(size),
            # An unclean election would elect a replica that lacks acknowledged records.
            "unclean.leader.election.enable": "false",
        }
        self.nodes = [
            KafkaNode(
                workdir,
                node_id=i + 1,
                cluster_id=cluster_id,
                listeners=p,
                voters=voters,
                settings=settings,
                jvm_options=jvm,
                log_path=(log_dir or workdir) / f"kafka-node-{i + 1}.log",
            )
            for i, p in enumerate(ports)
        ]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> KafkaNode:
        return next(node for node in self.nodes if node.node_id == node_id)

    def start(self, timeout: float = 120.0) -> KafkaCluster:
        """Format and start every node at once (a node serves only once a quorum of
        controllers is up, so one after the other would never finish); each formats its own
        storage first when it has none."""
        errors: list[BaseException] = []

        def start(node: KafkaNode) -> None:
            try:
                node.start(timeout)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=start, args=(n,)) for n in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            self.stop()
            raise errors[0]
        return self

    def stop(self) -> None:
        """Every node still running, by its PID (a controlled shutdown, SIGKILL after it)."""
        threads = [threading.Thread(target=n.stop) for n in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def replication(self) -> dict[str, set[int]]:
        """{topic: the replica counts of its partitions} of every non-internal topic."""
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            return {
                topic.get("name", topic.get("topic")): {
                    len(p.get("replica_nodes", p.get("replicas", ()))) for p in topic["partitions"]
                }
                for topic in admin.describe_topics()
                if not topic.get("is_internal")
            }
        finally:
            admin.close()

    def leaders(self, topics: list[str]) -> dict[tuple[str, int], int]:
        """{(topic, partition): node id of its leader} from a metadata request."""
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            found = {}
            # kafka-python 3 answers in the MetadataResponse's own field names.
            for topic in admin.describe_topics(topics):
                name = topic.get("name", topic.get("topic"))
                for partition in topic["partitions"]:
                    index = partition.get("partition_index", partition.get("partition"))
                    found[(name, index)] = partition.get("leader_id", partition.get("leader"))
            return found
        finally:
            admin.close()
