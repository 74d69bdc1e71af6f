"""The API keeps the contract it publishes at /openapi.json (generated from api/schemas.py by api/openapi.py).

Two halves:
- schemathesis, the command operators would run, against the real platform served over HTTP (PostgreSQL,
  Redis, a Celery worker): every operation with generated valid and invalid requests, then short sequences
  that follow the document's links from a new job to its status, results, cancel and delete; a fixed seed
  and a bounded number of examples; nothing may answer 5xx, and every answer's status, media type,
  headers and body must be the documented ones;
- a real job read end to end, its every answer checked against the same document: schemathesis uploads
  noise or a blank 1x1 picture, so the answers about a page with text (lines, words, every result format,
  the operators' views of it, the compat routes) are checked this way.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.documents import png, text_page

# Bounded so that it fits in `make test` on a busy 2-core machine (about a minute): ~25 operations x up
# to this many examples each, plus schemathesis's boundary-value ("coverage") cases. A longer hunt:
# OCR_CONTRACT_EXAMPLES=200 .venv/bin/pytest tests/integration/test_contract.py (with the test servers up).
MAX_EXAMPLES = int(os.environ.get("OCR_CONTRACT_EXAMPLES", "25"))
SEED = 20240501
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
# Revoking keys by generated ids would revoke the other tests' keys (ids are small integers);
# test_auth.py revokes a key of its own over HTTP.
EXCLUDED_OPERATIONS = ("revokeKey",)


def schemathesis_command(base_url: str, key: str, report: Path) -> list[str]:
    return [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base_url}/openapi.json",
        "--checks", ",".join(CHECKS),
        "--phases", "examples,coverage,fuzzing,stateful",
        "--mode", "all",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--generation-database", "none",
        "--workers", "1",  # two threads broke hypothesis's ast.parse on Python 3.11 (SystemError, recursion depth)
        "--request-timeout", "60",
        "--max-failures", "20",
        "--no-color",
        "--report", "junit",
        "--report-junit-path", str(report),
        "--header", f"Authorization: Bearer {key}",
        *(arg for op in EXCLUDED_OPERATIONS for arg in ("--exclude-operation-id", op)),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def contract_admin(app):
    """An admin key of its own: the admin routes are exercised too, and no other test's key is in play."""
    from db.keys import create_key

    with app.extensions["ocr"].db.session() as s:
        return create_key(s, "contract-admin", admin=True).key


@pytest.fixture(scope="module")
def schema(client):
    import schemathesis

    document = client.get("/openapi.json")
    assert document.status_code == 200
    return schemathesis.openapi.from_dict(document.json)


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_schema(live_server, contract_admin, tmp_path):
    command = schemathesis_command(live_server, contract_admin, tmp_path / "junit.xml")
    # In tmp_path: schemathesis keeps a cache directory (.schemathesis/) in its working directory.
    run = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    print(run.stdout[-4000:])  # the summary: operations, cases and checks run
    assert run.returncode == 0, f"{' '.join(command)}\n{run.stdout[-20000:]}\n{run.stderr[-5000:]}"


def _check(schema, method: str, path: str, answer) -> None:
    operation = schema[path][method.upper()]
    documented = operation.definition.raw["responses"]
    assert str(answer.status_code) in documented, (method, path, answer.status_code, answer.get_data(as_text=True)[:500])
    operation.validate_response(answer)


def test_a_real_jobs_answers_keep_the_contract(schema, client, contract_admin, alice):
    admin = {"Authorization": f"Bearer {contract_admin}"}
    submitted = alice.submit([(png(text_page(["Contract 合同 2024"])), "contract.png")], job_tag="contract")
    _check(schema, "post", "/v1/jobs", submitted)
    job_id = submitted.json["job_id"]
    _check(schema, "get", "/v1/jobs/{job_id}", alice.get(f"/v1/jobs/{job_id}"))
    # Not finished yet (or just finished): 409, or the file.
    _check(schema, "get", "/v1/jobs/{job_id}/result.{ext}", alice.get(f"/v1/jobs/{job_id}/result.txt"))
    alice.wait(job_id)

    _check(schema, "get", "/v1/jobs/{job_id}", alice.get(f"/v1/jobs/{job_id}"))
    _check(schema, "get", "/v1/jobs", alice.get("/v1/jobs?tag=contract&per_page=5"))
    _check(schema, "get", "/v1/jobs", alice.get("/v1/jobs?per_page=201"))  # refused, not lowered
    _check(schema, "get", "/v1/jobs/{job_id}/result", alice.get(f"/v1/jobs/{job_id}/result"))
    _check(schema, "get", "/v1/jobs/{job_id}/result", alice.get(f"/v1/jobs/{job_id}/result?pages=1"))
    for ext in ("json", "txt", "hocr", "pdf"):
        _check(schema, "get", "/v1/jobs/{job_id}/result.{ext}", alice.get(f"/v1/jobs/{job_id}/result.{ext}"))
    _check(schema, "get", "/v1/jobs/{job_id}/pages/{page_number}/image", alice.get(f"/v1/jobs/{job_id}/pages/1/image"))
    _check(schema, "post", "/v1/jobs/{job_id}/cancel", alice.post(f"/v1/jobs/{job_id}/cancel"))  # 409: finished

    _check(schema, "get", "/v1/admin/jobs/{job_id}", client.get(f"/v1/admin/jobs/{job_id}", headers=admin))
    _check(schema, "get", "/v1/admin/jobs", client.get("/v1/admin/jobs?tag=contract", headers=admin))
    _check(schema, "get", "/v1/admin/overview", client.get("/v1/admin/overview", headers=admin))
    _check(schema, "get", "/v1/admin/throughput", client.get("/v1/admin/throughput?minutes=5", headers=admin))
    _check(schema, "get", "/v1/admin/stage-times", client.get("/v1/admin/stage-times", headers=admin))
    _check(schema, "post", "/v1/admin/jobs/{job_id}/retry", client.post(f"/v1/admin/jobs/{job_id}/retry", headers=admin))
    rerun = client.post(f"/v1/admin/jobs/{job_id}/rerun", headers=admin, json={"outputs": "txt"})
    _check(schema, "post", "/v1/admin/jobs/{job_id}/rerun", rerun)
    _check(schema, "delete", "/v1/jobs/{job_id}", client.delete(f"/v1/jobs/{rerun.json['job_id']}", headers=admin))

    _check(schema, "get", "/v1/keys/me", alice.get("/v1/keys/me"))
    _check(schema, "get", "/v1/keys", client.get("/v1/keys", headers=admin))
    made = client.post("/v1/keys", headers=admin, json={"name": "contract-made", "quota_pages": 3})
    _check(schema, "post", "/v1/keys", made)
    _check(schema, "delete", "/v1/keys/{key_id}", client.delete(f"/v1/keys/{made.json['id']}", headers=admin))
    _check(schema, "get", "/readyz", client.get("/readyz"))
    _check(schema, "get", "/healthz", client.get("/healthz"))


def test_per_file_outcomes_keep_the_contract(schema, alice):
    """A refused file beside a good one (202 with rejected, a rejected file in the status), a request of
    refused files only (415 with rejected), and a PDF the job did not ask for (409 output_not_requested)."""
    good = (png(text_page(["Kept 保留"])), "kept.png")
    submitted = alice.submit([good, (b"not a picture", "notes.png")], outputs="txt", job_tag="contract")
    assert submitted.status_code == 202 and submitted.json["rejected"], submitted.json
    _check(schema, "post", "/v1/jobs", submitted)
    job_id = submitted.json["job_id"]
    alice.wait(job_id)
    status = alice.get(f"/v1/jobs/{job_id}")
    assert [f["status"] for f in status.json["files"]] == ["ready", "rejected"]
    _check(schema, "get", "/v1/jobs/{job_id}", status)
    for ext in ("hocr", "pdf"):  # made on demand; refused with its reason
        _check(schema, "get", "/v1/jobs/{job_id}/result.{ext}", alice.get(f"/v1/jobs/{job_id}/result.{ext}"))
    refused = alice.submit([(b"not a picture", "a.png"), (b"", "b.pdf")])
    assert refused.status_code == 415 and len(refused.json["rejected"]) == 2
    _check(schema, "post", "/v1/jobs", refused)


def test_the_compat_routes_answers_keep_the_contract(schema, alice):
    image = png(text_page(["Compat 兼容"]))
    answer = alice.post("/api/ocr", data={"image": (io.BytesIO(image), "c.png")}, content_type="multipart/form-data")
    _check(schema, "post", "/api/ocr", answer)
    answer = alice.post("/v1/index", data={"file": (io.BytesIO(image), "c.png")}, content_type="multipart/form-data")
    _check(schema, "post", "/v1/index", answer)
    _check(schema, "get", "/v1/jobs/{job_id}/pages/{page_number}/image", alice.get(answer.json["image_url"]))
    refused = alice.post("/api/ocr", data={"image": (io.BytesIO(b"no image"), "c.png")}, content_type="multipart/form-data")
    assert refused.status_code == 415
    _check(schema, "post", "/api/ocr", refused)
