# Apache Kafka for the tests and the benchmark: the broker pinned in deploy/kafka/pom.xml, from
# Maven Central into ~/.m2, its class path written to $(KAFKA_CLASSPATH) for
# tests/kafka_broker.py. Needs java and mvn (mk/system.mk installs them when missing). Only the
# tests and the benchmark need Java: ccpulse itself talks to any Kafka over the network.
KAFKA_POM       := deploy/kafka/pom.xml
KAFKA_CLASSPATH := $(VENV)/kafka.classpath

.PHONY: kafka
kafka: $(KAFKA_CLASSPATH)

$(KAFKA_CLASSPATH): $(KAFKA_POM) | $(PY) system-deps
	mvn -q -B -f $(KAFKA_POM) dependency:build-classpath -Dmdep.outputFile=$(abspath $@).tmp
	mv $@.tmp $@
