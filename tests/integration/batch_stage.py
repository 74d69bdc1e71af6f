"""The integration tests' pipeline stage with ``run_pages``, for workers that batch (OCR_WORKER_BATCH).

tests/integration/fault_stage.py's markers act page by page inside the batch;
every other page of the batch goes to the real Pipeline.run_pages in one call.
A marked page that raises is that page's slot's exception, as run_pages gives it.
Never used outside tests.
"""

from __future__ import annotations

from tests.integration.fault_stage import FaultInjectingPipeline, marker_of


class BatchFaultPipeline(FaultInjectingPipeline):
    def run_pages(self, images, page_numbers=None, detect_orientation: bool = True):
        numbers = list(page_numbers) if page_numbers is not None else list(range(1, len(images) + 1))
        results: list = [None] * len(images)
        clean = []
        for i, (image, number) in enumerate(zip(images, numbers, strict=True)):
            if marker_of(image) is None:
                clean.append(i)
                continue
            try:
                results[i] = self.run_page(image, number, detect_orientation=detect_orientation)  # crash, oom, flaky, slow
            except Exception as exc:
                results[i] = exc
        if clean:
            from pipeline.pipeline import get_pipeline

            read = get_pipeline(self.lang).run_pages(
                [images[i] for i in clean], [numbers[i] for i in clean], detect_orientation=detect_orientation
            )
            for i, page in zip(clean, read, strict=True):
                results[i] = page
        return results


def get_pipeline(lang: str = "mix") -> BatchFaultPipeline:
    return BatchFaultPipeline(lang)
