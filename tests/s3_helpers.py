"""A real S3 API on 127.0.0.1 for the tests: moto in server mode, as dvc-s3's own test fixtures
run it (`ThreadedMotoServer`). The server runs in the test process, so its buckets outlive a
stop: `stop()` closes the listening socket (connections are refused, as with a server that is
down) and `start()` serves the same buckets on the same port again. Holds no tests.

Credentials are moto's `testing/testing`, set in os.environ so the dvc and expbook
subprocesses of a test use them; the user's ~/.aws files are hidden. The boto3 >= 1.36
checksum variables (AWS_REQUEST_CHECKSUM_CALCULATION / AWS_RESPONSE_CHECKSUM_VALIDATION) are
removed: moto accepts the default CRC32 checksums, so the tests run what a user runs.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
UNSET = (
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REQUEST_CHECKSUM_CALCULATION",
    "AWS_RESPONSE_CHECKSUM_VALIDATION",
)


@dataclass
class MotoS3:
    """One moto server on 127.0.0.1 (port chosen by the OS on first start, kept after)."""

    port: int = 0
    _server: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> MotoS3:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer("127.0.0.1", self.port, verbose=False)
        server.start()
        self.port = server.get_host_and_port()[1]
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving and close the socket: a connection is refused, not left hanging."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            server._server.server_close()  # moto's stop() leaves the socket listening

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", **_keys())

    def keys(self, bucket: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=bucket)
        return sorted(o["Key"] for o in listing.get("Contents", []))

    def empty(self, bucket: str) -> None:
        """Create the bucket, or delete every object in it."""
        client = self.client()
        if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
            client.create_bucket(Bucket=bucket)
        for key in self.keys(bucket):
            client.delete_object(Bucket=bucket, Key=key)


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
    }


def set_s3_env(mp: pytest.MonkeyPatch, home: Path) -> None:
    """moto's credentials for this process and its subprocesses; no ~/.aws of the user."""
    for key, value in S3_ENV.items():
        mp.setenv(key, value)
    for key in UNSET:
        mp.delenv(key, raising=False)
    mp.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
