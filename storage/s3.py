"""Blobs in an S3-compatible bucket (AWS, MinIO, moto...), so workers on other machines share them.

Credentials come the usual boto3 way (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
a profile or an instance role); ``endpoint_url`` points at a non-AWS server.
"""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from core.errors import NotFound, StorageUnavailable
from storage.base import Storage, check_key

_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Storage(Storage):
    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            config=Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5, read_timeout=60),
        )

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"Could not write {key} to s3://{self.bucket}: {exc}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise NotFound(f"No stored object {key}") from exc
            raise StorageUnavailable(f"Could not read {key} from s3://{self.bucket}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"Could not read {key} from s3://{self.bucket}: {exc}") from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return False
            raise StorageUnavailable(f"Could not reach s3://{self.bucket}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"Could not reach s3://{self.bucket}: {exc}") from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"Could not delete {key} from s3://{self.bucket}: {exc}") from exc

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix))
            for page in pages:
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
                if keys:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                    count += len(keys)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"Could not delete {prefix}* from s3://{self.bucket}: {exc}") from exc
        return count

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"Bucket s3://{self.bucket} is not reachable: {exc}") from exc

    def create_bucket(self) -> bool:
        """Make the bucket if it is missing (``ocr-admin storage init``); True if it was created."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)
            return True
