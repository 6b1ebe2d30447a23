"""What can be validated offline about the deployment files (no Docker engine, no cluster here).

* Prometheus: ``promtool check config`` (scrape config + rule files), ``promtool check rules``
  and ``promtool test rules`` on the worker-health alerts.
* Alertmanager: ``amtool check-config``.
* Kubernetes: every manifest against the Kubernetes API schemas shipped by the
  ``kubernetes-validate`` package (strict: unknown fields fail), plus the structure ccpulse
  relies on: probes on /ready and /health, the PodDisruptionBudget selecting the worker pods,
  ports agreeing with the ConfigMap's ccpulse.yaml.
* Docker Compose: parsed and checked for structure (services, images, probes, mounts, ports
  agreeing with deploy/ccpulse.yaml and the Prometheus targets); compose itself is not run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.config import load_config
from tests.kafka_broker import KafkaNode, deployed_settings, kafka_version, replication_settings
from tests.servers import require_binary

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd)


# -- Prometheus and Alertmanager -----------------------------------------------------------------


def test_prometheus_config_passes_promtool() -> None:
    promtool = require_binary("promtool", "prometheus")
    result = run(promtool, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_worker_health_alerts_pass_promtool_check_and_unit_tests() -> None:
    promtool = require_binary("promtool", "prometheus")
    checked = run(promtool, "check", "rules", str(DEPLOY / "prometheus" / "ccpulse-ops.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout
    tested = run(promtool, "test", "rules", "ccpulse-ops.test.yml", cwd=DEPLOY / "prometheus")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_alertmanager_config_passes_amtool() -> None:
    amtool = require_binary("amtool", "prometheus-alertmanager")
    result = run(amtool, "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_prometheus_scrapes_every_compose_worker_and_alerts_to_its_alertmanager() -> None:
    prometheus = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    compose = load_yaml(DEPLOY / "docker-compose.yml")
    port = load_config(DEPLOY / "ccpulse.yaml").worker.web_port
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "ccpulse"]
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    workers = {name for name in compose["services"] if name.startswith("worker-")}
    assert targets == {f"{name}:{port}" for name in workers}
    (alertmanager,) = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanager.split(":")[0] in compose["services"]


# -- Kubernetes ----------------------------------------------------------------------------------


def manifests() -> dict[str, dict[str, Any]]:
    """{kind: resource} of every manifest the kustomization lists (one of each kind)."""
    kustomization = load_yaml(K8S / "kustomization.yaml")
    found: dict[str, dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            assert doc["kind"] not in found, f"two {doc['kind']} manifests"
            found[doc["kind"]] = doc
    return found


def test_every_kubernetes_file_is_in_the_kustomization() -> None:
    listed = set(load_yaml(K8S / "kustomization.yaml")["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_kubernetes_manifests_pass_the_api_schemas() -> None:
    pytest.importorskip("kubernetes_validate", reason="dev dependency kubernetes-validate")
    files = [str(K8S / name) for name in load_yaml(K8S / "kustomization.yaml")["resources"]]
    result = run(sys.executable, "-m", "kubernetes_validate", "--strict", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed for resource") == len(files), result.stdout


def test_worker_pods_probe_ready_and_health_on_the_configured_port() -> None:
    found = manifests()
    config = yaml.safe_load(found["ConfigMap"]["data"]["ccpulse.yaml"])
    port = config["worker"]["web_port"]
    assert config["worker"]["web_host"] == "0.0.0.0"
    pod = found["Deployment"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": port}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["resources"]["requests"].keys() == {"cpu", "memory"}
    assert container["resources"]["limits"].keys() == {"cpu", "memory"}
    assert "--config" in container["args"] and container["args"][-1] == "worker"
    config_path = container["args"][container["args"].index("--config") + 1]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume = mounts[str(Path(config_path).parent)]
    (source,) = [v for v in pod["spec"]["volumes"] if v["name"] == volume]
    assert source["configMap"]["name"] == found["ConfigMap"]["metadata"]["name"]
    assert Path(config_path).name in found["ConfigMap"]["data"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"
    # Long enough for the graceful shutdown (finish batch, commit, snapshot, leave the group).
    assert pod["spec"]["terminationGracePeriodSeconds"] >= 30


def test_the_configmap_is_a_valid_ccpulse_configuration(tmp_path: Path) -> None:
    found = manifests()
    path = tmp_path / "ccpulse.yaml"
    path.write_text(found["ConfigMap"]["data"]["ccpulse.yaml"])
    config = load_config(path)
    replicas = found["Deployment"]["spec"]["replicas"]
    assert replicas <= config.topics.partitions, "more workers than partitions would idle"


def test_pdb_and_service_select_exactly_the_worker_pods() -> None:
    found = manifests()
    deployment = found["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    pdb = found["PodDisruptionBudget"]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["maxUnavailable"] == 1
    service = found["Service"]["spec"]
    assert service["selector"].items() <= labels.items()
    assert service["clusterIP"] == "None", "each pod must be scraped, not a load-balanced VIP"
    (port,) = service["ports"]
    assert port["targetPort"] == "http"


# -- Docker Compose ------------------------------------------------------------------------------


def test_compose_runs_kafka_in_kraft_mode_with_the_official_image() -> None:
    kafka = load_yaml(DEPLOY / "docker-compose.yml")["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@")
    assert not any(key.startswith("KAFKA_ZOOKEEPER") for key in env)
    bootstrap = load_config(DEPLOY / "ccpulse.yaml").kafka.bootstrap
    assert f"PLAINTEXT://{bootstrap}" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")


def kafka_env_settings(env: dict[str, Any]) -> dict[str, str]:
    """The apache/kafka image's KAFKA_X_Y variables as the broker settings x.y they become."""
    return {
        key[len("KAFKA_") :].lower().replace("_", "."): str(value)
        for key, value in env.items()
        if key.startswith("KAFKA_")
    }


def k8s_kafka() -> dict[str, dict[str, Any]]:
    """{kind/name: resource} of deploy/k8s/kafka/."""
    found = {}
    for name in load_yaml(K8S / "kafka" / "kustomization.yaml")["resources"]:
        for doc in yaml.safe_load_all((K8S / "kafka" / name).read_text()):
            found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


def test_compose_and_k8s_run_the_kafka_version_the_tests_run() -> None:
    image = f"apache/kafka:{kafka_version()}"
    assert load_yaml(DEPLOY / "docker-compose.yml")["services"]["kafka"]["image"] == image
    (container,) = k8s_kafka()["StatefulSet/kafka"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == image


def test_compose_kafka_has_the_tested_broker_settings_for_one_broker() -> None:
    env = load_yaml(DEPLOY / "docker-compose.yml")["services"]["kafka"]["environment"]
    settings = kafka_env_settings(env)
    expected = {**deployed_settings(), **replication_settings(1)}
    assert {key: settings.get(key) for key in expected} == expected
    # The tests' node has the same two listeners, with the same security protocols.
    node = KafkaNode(Path("unused"), listeners={"PLAINTEXT": 1, "CONTROLLER": 2}).properties()
    for key in ("listener.security.protocol.map", "controller.listener.names"):
        assert set(settings[key].split(",")) == set(node[key].split(",")), key
    assert load_config(DEPLOY / "ccpulse.yaml").topics.replication_factor == 1


def test_k8s_kafka_has_the_tested_broker_settings_for_three_brokers() -> None:
    found = k8s_kafka()
    statefulset = found["StatefulSet/kafka"]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    settings = kafka_env_settings(env)
    brokers = statefulset["spec"]["replicas"]
    assert brokers == 3
    expected = {**deployed_settings(), **replication_settings(brokers)}
    assert {key: settings.get(key) for key in expected} == expected
    voters = settings["controller.quorum.voters"].split(",")
    assert voters == [f"{i}@kafka-{i}.kafka-headless:9093" for i in range(brokers)]
    assert found["Service/kafka-headless"]["spec"]["publishNotReadyAddresses"] is True
    assert found["PodDisruptionBudget/kafka"]["spec"]["maxUnavailable"] == 1
    # The workers' ConfigMap points at this Kafka and replicates its topics as the brokers do.
    worker_config = yaml.safe_load(manifests()["ConfigMap"]["data"]["ccpulse.yaml"])
    assert worker_config["kafka"]["bootstrap"] == "kafka-bootstrap:9092"
    assert "Service/kafka-bootstrap" in found
    assert worker_config["topics"]["replication_factor"] == brokers


def test_k8s_kafka_manifests_pass_the_api_schemas() -> None:
    pytest.importorskip("kubernetes_validate", reason="dev dependency kubernetes-validate")
    files = [
        str(K8S / "kafka" / n) for n in load_yaml(K8S / "kafka" / "kustomization.yaml")["resources"]
    ]
    result = run(sys.executable, "-m", "kubernetes_validate", "--strict", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed for resource") == len(k8s_kafka()), result.stdout


def test_compose_has_three_ready_checked_workers_from_the_dockerfile() -> None:
    compose = load_yaml(DEPLOY / "docker-compose.yml")
    services = compose["services"]
    config = load_config(DEPLOY / "ccpulse.yaml")
    workers = {name: s for name, s in services.items() if name.startswith("worker-")}
    assert len(workers) == 3
    host_ports = set()
    for name, worker in workers.items():
        assert worker["build"]["dockerfile"] == "deploy/Dockerfile", name
        context = (DEPLOY / worker["build"]["context"]).resolve()  # relative to the compose file
        assert context == ROOT and (context / worker["build"]["dockerfile"]).exists()
        assert worker["command"][-1] == "worker"
        config_path = worker["command"][worker["command"].index("--config") + 1]
        assert f"./ccpulse.yaml:{config_path}:ro" in worker["volumes"]
        probe = " ".join(worker["healthcheck"]["test"])
        assert f"127.0.0.1:{config.worker.web_port}/ready" in probe, name
        assert worker["stop_signal"] == "SIGTERM"
        (mapping,) = worker["ports"]
        host, container = mapping.split(":")
        assert int(container) == config.worker.web_port
        host_ports.add(host)
        assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert len(host_ports) == 3
    assert config.worker.web_host == "0.0.0.0"
    assert services["topics"]["command"][-2:] == ["topics", "create"]


def test_compose_mounts_prometheus_alertmanager_and_grafana_provisioning() -> None:
    services = load_yaml(DEPLOY / "docker-compose.yml")["services"]

    def mounts(service: str) -> dict[str, str]:
        found = {}
        for volume in services[service]["volumes"]:
            source, target = volume.split(":")[:2]
            found[target] = source
        return found

    prometheus = mounts("prometheus")["/etc/prometheus"]
    assert (DEPLOY / prometheus / "prometheus.yml").exists()
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    alertmanager = mounts("alertmanager")["/etc/alertmanager"]
    assert (DEPLOY / alertmanager / "alertmanager.yml").exists()
    grafana = mounts("grafana")
    assert (DEPLOY / grafana["/etc/grafana/provisioning"]).resolve() == (
        DEPLOY / "grafana" / "provisioning"
    )
    # The compose datasource replaces the provisioned one's URL, keeping its name and uid.
    override = grafana["/etc/grafana/provisioning/datasources/ccpulse.yaml"]
    (ours,) = load_yaml(DEPLOY / override)["datasources"]
    provisioned = DEPLOY / "grafana" / "provisioning" / "datasources" / "ccpulse.yaml"
    (theirs,) = load_yaml(provisioned)["datasources"]
    assert (ours["name"], ours["uid"]) == (theirs["name"], theirs["uid"])
    assert ours["url"] == "http://prometheus:9090"
    # The dashboard provider reads the directory the generated dashboards are mounted at.
    provider_file = DEPLOY / "grafana" / "provisioning" / "dashboards" / "ccpulse.yaml"
    (provider,) = load_yaml(provider_file)["providers"]
    dashboards_source = grafana[provider["options"]["path"]]
    assert (DEPLOY / dashboards_source).resolve() == ROOT / "dashboards" / "generated"


def test_dockerfile_copies_what_the_package_needs_and_exposes_the_worker_port() -> None:
    lines = [line.split() for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    copied = {
        source
        for words in lines
        if words and words[0] == "COPY" and not words[1].startswith("--from")
        for source in words[1:-1]
    }
    for source in copied:
        assert (ROOT / source).exists(), source
    packages = {"processors", "streams", "dashboards", "pyproject.toml", "README.md"}
    assert packages <= copied
    exposed = {int(words[1]) for words in lines if words and words[0] == "EXPOSE"}
    assert exposed == {load_config(DEPLOY / "ccpulse.yaml").worker.web_port}
    users = [words[1] for words in lines if words and words[0] == "USER"]
    assert users and users[-1] != "root"
