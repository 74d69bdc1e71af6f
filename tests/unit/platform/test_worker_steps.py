"""split_job / run_page / finish_job logic on SQLite and local disk, without a broker or the models.

The integration tests run the same code in real Celery workers with the real pipeline.
"""

from __future__ import annotations

import hashlib
import io

import pikepdf
from PIL import Image

from db.keys import create_key
from db.models import FileStatus, Job, JobFile, JobStatus, Page, PageStatus
from db.transitions import claim_page
from storage import input_key
from worker import finishing, page_runner, splitting


def blank_pdf(pages: int) -> bytes:
    doc = pikepdf.new()
    for _ in range(pages):
        doc.add_blank_page(page_size=(72, 72))
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 20), "white").save(buf, format="PNG")
    return buf.getvalue()


def add_job(ctx, uploads: list[tuple[str, bytes]], *, page_spec=None, quota=None, outputs="txt") -> str:
    with ctx.db.session() as s:
        key = create_key(s, "t", quota_pages=quota).record
        job = Job(api_key_id=key.id, status=JobStatus.QUEUED, outputs=outputs, page_spec=page_spec)
        s.add(job)
        s.flush()
        for position, (name, data) in enumerate(uploads):
            sha = hashlib.sha256(data).hexdigest()
            ctx.storage.put(input_key(sha), data)
            s.add(JobFile(job_id=job.id, position=position, filename=name, sha256=sha, size_bytes=len(data)))
        return job.id


def load(ctx, job_id):
    with ctx.db.session() as s:
        job = s.get(Job, job_id)
        files = list(s.query(JobFile).filter_by(job_id=job_id).order_by(JobFile.position))
        pages = list(s.query(Page).filter_by(job_id=job_id).order_by(Page.page_number))
        return job, files, pages


def test_split_makes_a_page_row_per_page_and_records_bad_files(context):
    job_id = add_job(context, [("a.pdf", blank_pdf(2)), ("junk.png", b"not an image"), ("b.png", png_bytes())])
    outcome = splitting.split_job(context, job_id)
    job, files, pages = load(context, job_id)
    assert (job.status, job.pages_total) == (JobStatus.RUNNING, 3)
    assert [(f.status, f.format, f.page_count, f.error_code) for f in files] == [
        (FileStatus.READY, "pdf", 2, None),
        (FileStatus.FAILED, None, None, "unsupported_format"),
        (FileStatus.READY, "png", 1, None),
    ]
    assert [(p.page_number, p.file_id, p.source_page) for p in pages] == [
        (1, files[0].id, 1),
        (2, files[0].id, 2),
        (3, files[2].id, 1),
    ]
    assert outcome.page_ids == [p.id for p in pages] and not outcome.ended
    # A repeated message re-sends the open pages and changes nothing else.
    assert splitting.split_job(context, job_id).page_ids == outcome.page_ids
    assert load(context, job_id)[0].pages_total == 3


def test_split_fails_a_job_with_no_usable_file(context):
    job_id = add_job(context, [("bad.pdf", b"%PDF-1.4 garbage")])
    assert splitting.split_job(context, job_id).ended
    job, files, _ = load(context, job_id)
    assert (job.status, job.error_code) == (JobStatus.FAILED, "corrupt_file")
    assert job.error_message.startswith("bad.pdf: ")


def test_split_names_the_files_refused_at_upload_when_no_file_is_usable(context):
    job_id = add_job(context, [("bad.pdf", b"%PDF-1.4 garbage")])
    with context.db.session() as s:  # bad.pdf was the request's second file; its first was refused at upload
        s.get(Job, job_id).rejected_files = [{"index": 0, "filename": "a.txt", "code": "unsupported_format", "message": "No."}]
        s.query(JobFile).filter_by(job_id=job_id).update({"position": 1})
    assert splitting.split_job(context, job_id).ended
    job, _, _ = load(context, job_id)
    assert (job.status, job.error_code) == (JobStatus.FAILED, "unsupported_format")  # request order: a.txt first
    assert job.error_message == "a.txt: No. (1 more error(s); see files and pages)"


def test_split_applies_the_page_range_and_the_page_limit(context):
    job_id = add_job(context, [("a.pdf", blank_pdf(4)), ("b.pdf", blank_pdf(4))], page_spec="2-4")
    splitting.split_job(context, job_id)
    job, files, pages = load(context, job_id)
    # 3 pages of a.pdf fit the limit of 5; b.pdf's 3 would not, so b.pdf fails whole.
    assert [p.source_page for p in pages] == [2, 3, 4]
    assert files[1].error_code == "too_many_pages"


def test_split_respects_the_quota_and_a_cancel(context):
    over = add_job(context, [("a.pdf", blank_pdf(3))], quota=2)
    splitting.split_job(context, over)
    assert load(context, over)[0].error_code == "quota_exceeded"

    cancelled = add_job(context, [("a.pdf", blank_pdf(1))])
    with context.db.session() as s:
        s.get(Job, cancelled).status = JobStatus.CANCELLING
    assert splitting.split_job(context, cancelled).ended
    assert load(context, cancelled)[0].status == JobStatus.CANCELLED


def test_a_page_past_its_attempts_fails_without_running(context):
    job_id = add_job(context, [("a.png", png_bytes())])
    (page_id,) = splitting.split_job(context, job_id).page_ids
    for _ in range(context.settings.max_page_attempts):
        with context.db.session() as s:
            claim_page(s, page_id, "died")  # three workers died on it
    outcome = page_runner.run_page(context, page_id, "w")
    assert outcome.finish and outcome.job_id == job_id
    job, _, (page,) = load(context, job_id)
    assert (page.status, page.error_code, page.attempts) == (PageStatus.FAILED, "page_attempts_exhausted", 4)
    assert job.pages_failed == 1
    # A second copy of the message finds it settled and only re-asks for finish_job.
    assert page_runner.run_page(context, page_id, "w").finish


def test_pages_of_a_cancelling_job_are_cancelled_not_read(context):
    job_id = add_job(context, [("a.pdf", blank_pdf(2))])
    first, second = splitting.split_job(context, job_id).page_ids
    with context.db.session() as s:
        s.get(Job, job_id).status = JobStatus.CANCELLING
    assert not page_runner.run_page(context, first, "w").finish
    assert page_runner.run_page(context, second, "w").finish
    assert finishing.finish_job(context, job_id) is True
    job, _, pages = load(context, job_id)
    assert job.status == JobStatus.CANCELLED and [p.status for p in pages] == ["cancelled", "cancelled"]
    assert finishing.finish_job(context, job_id) is False  # once


def test_finish_assembles_outputs_and_picks_the_status(context):
    job_id = add_job(context, [("a.pdf", blank_pdf(2))], outputs="txt,json,hocr")
    first, second = splitting.split_job(context, job_id).page_ids
    from db.transitions import settle_page

    page = {"page_number": 1, "width": 200, "height": 200, "angle": 0, "angle_confidence": 1.0, "lines": []}
    with context.db.session() as s:
        claim_page(s, first, "w")
        settle_page(s, first, job_id, PageStatus.DONE, result=page)
        claim_page(s, second, "w")
        settle_page(s, second, job_id, PageStatus.FAILED, error={"code": "corrupt_file", "message": "bad"})
    assert finishing.finish_job(context, job_id)
    job, _, _ = load(context, job_id)
    assert job.status == JobStatus.PARTIAL_SUCCESS
    assert context.storage.get(f"jobs/{job_id}/result.txt") == b""
    assert b'"pages"' in context.storage.get(f"jobs/{job_id}/result.json")
    assert b"ocr_page" in context.storage.get(f"jobs/{job_id}/result.hocr")


def test_files_refused_at_upload_make_the_job_partial_or_name_themselves_in_its_error(context):
    """A job recorded with rejected files (api/submission.py) never ends succeeded: those files were not read."""
    from db.transitions import settle_page

    refused = [{"index": 1, "filename": "notes.png", "code": "unsupported_format", "message": "Not an image."}]
    page = {"page_number": 1, "width": 200, "height": 200, "angle": 0, "angle_confidence": 1.0, "lines": []}
    ends = {}
    for outcome in (PageStatus.DONE, PageStatus.FAILED):
        job_id = add_job(context, [("a.pdf", blank_pdf(1))])
        with context.db.session() as s:
            s.get(Job, job_id).rejected_files = refused
        (page_id,) = splitting.split_job(context, job_id).page_ids
        with context.db.session() as s:
            claim_page(s, page_id, "w")
            error = None if outcome == PageStatus.DONE else {"code": "corrupt_file", "message": "bad"}
            settle_page(s, page_id, job_id, outcome, result=page if error is None else None, error=error)
        assert finishing.finish_job(context, job_id)
        ends[outcome] = load(context, job_id)[0]
    assert ends[PageStatus.DONE].status == JobStatus.PARTIAL_SUCCESS
    failed = ends[PageStatus.FAILED]
    assert failed.status == JobStatus.FAILED and failed.error_code == "unsupported_format"
    assert failed.error_message.startswith("notes.png: Not an image. (1 more error(s)")
