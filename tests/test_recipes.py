"""The Kubernetes and cron recipes in examples/; the Slurm one runs in test_slurm.py."""

from pathlib import Path

import yaml

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_kubernetes_job_restarts_on_exit_75():
    documents = list(yaml.safe_load_all((EXAMPLES / "kubernetes" / "job.yaml").read_text()))
    job = next(document for document in documents if document["kind"] == "Job")
    claim = next(document for document in documents if document["kind"] == "PersistentVolumeClaim")
    pod = job["spec"]["template"]["spec"]
    rules = job["spec"]["podFailurePolicy"]["rules"]

    assert pod["restartPolicy"] == "Never"
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert pod["containers"][0]["command"][:2] == ["runner", "ensure"]
    assert {"action": "Ignore", "onExitCodes": {"containerName": "runner", "operator": "In", "values": [75]}} in rules
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


def test_cron_entry_uses_ensure():
    entries = [
        line for line in (EXAMPLES / "cron" / "crontab").read_text().splitlines() if line and not line.startswith("#")
    ]

    assert len(entries) == 1
    assert "runner ensure fashion_mnist" in entries[0]
    assert ">>" in entries[0]
