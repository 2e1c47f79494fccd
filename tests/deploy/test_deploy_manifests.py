"""Every deployment YAML parses, and the Kubernetes manifests are valid against the Kubernetes API
schemas (bundled by kubernetes-validate, offline) and say what production needs: probes on
/health and /ready, Prometheus scraping, a non-root read-only container, resources, settings
that the app really reads, secrets only in the Secret, an autoscaler bounded by the partition
count."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
from deploy_files import (
    K8S,
    SECRET_VARIABLES,
    SETTINGS_VARIABLES,
    kubernetes_object,
    kubernetes_objects,
    load_documents,
    yaml_files,
)

from app.settings import Settings

KUBERNETES_VERSION = "1.30"  # the oldest minor the manifests must work on
WORKLOADS = [("Deployment", "crm-events"), ("Job", "crm-events-migrate")]


def pod_spec(kind: str, name: str) -> dict:
    return kubernetes_object(kind, name)["spec"]["template"]["spec"]


def test_the_deploy_folder_holds_the_expected_yaml_files():
    names = {path.relative_to(K8S.parent).as_posix() for path in yaml_files()}
    assert {"docker-compose.yml", "k8s/deployment.yaml", "k8s/service.yaml",
            "k8s/configmap.yaml", "k8s/secret.example.yaml", "k8s/hpa.yaml",
            "k8s/migrate-job.yaml", "k8s/pdb.yaml", "k8s/kustomization.yaml"} <= names


@pytest.mark.parametrize("path", yaml_files(), ids=lambda path: path.name)
def test_every_yaml_file_parses_to_mappings(path):
    documents = load_documents(path)
    assert documents, f"{path.name} holds no document"
    assert all(isinstance(document, dict) for document in documents)


@pytest.mark.parametrize("key", sorted(kubernetes_objects()), ids="/".join)
def test_kubernetes_object_matches_the_api_schema(key):
    kubernetes_validate.validate(kubernetes_objects()[key], KUBERNETES_VERSION, strict=True)


def test_schema_validation_rejects_a_misspelt_field():
    deployment = copy.deepcopy(kubernetes_object("Deployment", "crm-events"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_kustomization_applies_every_long_lived_manifest_and_no_placeholder_secret():
    (kustomization,) = load_documents(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    assert all((K8S / name).is_file() for name in listed)
    manifests = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == manifests - {"secret.example.yaml", "migrate-job.yaml"}


@pytest.mark.parametrize("kind,name", WORKLOADS)
def test_workload_runs_as_non_root_with_a_read_only_root_filesystem(kind, name):
    spec = pod_spec(kind, name)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] > 0
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert container["image"]
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["requests"]["memory"]
        assert container["resources"]["limits"]["memory"]


@pytest.mark.parametrize("kind,name", WORKLOADS)
def test_workload_reads_settings_from_the_configmap_and_the_secret(kind, name):
    for container in pod_spec(kind, name)["containers"]:
        sources = {next(iter(source)): next(iter(source.values()))["name"]
                   for source in container["envFrom"]}
        assert sources == {"configMapRef": "crm-events-config",
                           "secretRef": "crm-events-secrets"}
        assert {item["name"] for item in container.get("env", [])} <= SETTINGS_VARIABLES


def test_worker_pods_run_the_worker_and_probe_health_and_readiness_on_the_http_port():
    (container,) = pod_spec("Deployment", "crm-events")["containers"]
    assert container["args"] == ["worker"]
    (port,) = container["ports"]
    assert port["containerPort"] == Settings.model_fields["web_port"].default
    configured = kubernetes_object("ConfigMap", "crm-events-config")["data"]
    assert int(configured["WEB_PORT"]) == port["containerPort"]
    # reads are routed to the owning worker at its advertised WEB_HOST: its own pod IP
    env = {item["name"]: item for item in container["env"]}
    assert env["WEB_HOST"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert "WEB_HOST" not in configured
    # ready only with the broker, PostgreSQL and tables; alive (not restarted) without them
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": port["name"]}
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": port["name"]}
    template = kubernetes_object("Deployment", "crm-events")["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == port["containerPort"]
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120  # group join + restore


def test_worker_rollouts_replace_one_pod_at_a_time_and_leave_time_to_leave_the_group():
    spec = kubernetes_object("Deployment", "crm-events")["spec"]
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    consumer_session = float(
        kubernetes_object("ConfigMap", "crm-events-config")["data"]["KAFKA_SESSION_TIMEOUT_S"])
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] >= consumer_session


def test_migrate_job_applies_the_schema_once_with_a_real_broker_configured():
    job = kubernetes_object("Job", "crm-events-migrate")["spec"]
    (container,) = job["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    assert job["backoffLimit"] <= 5
    # unset, `crm-events migrate` would start an embedded broker in the pod
    assert kubernetes_object("ConfigMap", "crm-events-config")["data"]["KAFKA_BROKER_URL"]
    deployment_image = pod_spec("Deployment", "crm-events")["containers"][0]["image"]
    assert container["image"] == deployment_image


def test_configmap_holds_only_real_non_secret_settings_for_a_replicated_cluster():
    data = kubernetes_object("ConfigMap", "crm-events-config")["data"]
    assert set(data) <= SETTINGS_VARIABLES, set(data) - SETTINGS_VARIABLES
    assert not set(data) & SECRET_VARIABLES
    assert data["TOPIC_REPLICATION_FACTOR"] == "3"
    assert data["KAFKA_BROKER_URL"].startswith("kafka://")
    assert len(data["KAFKA_BROKER_URL"].split(";")) >= 3
    assert all(isinstance(value, str) for value in data.values())


def test_example_secret_holds_only_settings_and_placeholders():
    secret = kubernetes_object("Secret", "crm-events-secrets")
    values = secret["stringData"]
    assert {"DATABASE_URL", "BRIDGE_API_KEYS"} <= set(values) <= SETTINGS_VARIABLES
    assert all("PLACEHOLDER" in value for value in values.values())
    assert "EXAMPLE ONLY" in (K8S / "secret.example.yaml").read_text()


def test_service_sends_traffic_to_the_worker_http_port():
    service = kubernetes_object("Service", "crm-events")["spec"]
    pods = kubernetes_object("Deployment", "crm-events")["spec"]["template"]
    assert service["selector"].items() <= pods["metadata"]["labels"].items()
    port_names = {port["name"] for port in pods["spec"]["containers"][0]["ports"]}
    assert {port["targetPort"] for port in service["ports"]} <= port_names


def test_autoscaler_never_scales_past_the_partition_count():
    hpa = kubernetes_object("HorizontalPodAutoscaler", "crm-events")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": "crm-events"}
    partitions = int(kubernetes_object("ConfigMap", "crm-events-config")["data"][
        "TOPIC_PARTITIONS"])
    assert 2 <= hpa["minReplicas"] <= hpa["maxReplicas"] <= partitions
    assert "sit idle" in (K8S / "hpa.yaml").read_text()
    # each scale event is a rebalance: one pod per step, a long window before scaling down
    assert all(policy["value"] == 1 for direction in ("scaleUp", "scaleDown")
               for policy in hpa["behavior"][direction]["policies"])
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300


def test_disruption_budget_keeps_all_but_one_worker_during_drains():
    budget = kubernetes_object("PodDisruptionBudget", "crm-events")["spec"]
    pods = kubernetes_object("Deployment", "crm-events")["spec"]["template"]["metadata"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"]["matchLabels"].items() <= pods["labels"].items()
