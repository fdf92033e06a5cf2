"""boto3 client for the lab's EC2 API: explicit endpoint, credentials, short timeouts.

Explicit credentials and AWS_EC2_METADATA_DISABLED keep botocore from ever looking for the
instance metadata service: the lab must send no traffic outside its own hosts.
"""
import os

os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from . import topology as t  # noqa: E402


def _client(service: str, timeout: float, **config):
    return boto3.client(
        service,
        endpoint_url=t.ec2_endpoint(),
        region_name=t.REGION,
        aws_access_key_id=t.AWS_ACCESS_KEY_ID,
        aws_secret_access_key=t.AWS_SECRET_ACCESS_KEY,
        config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}, **config),
    )


def ec2_client(timeout: float = 2.0):
    return _client("ec2", timeout)


def s3_client(timeout: float = 10.0):
    """The same server speaks S3: backups (`[backup] store = "s3://…"`)."""
    return _client("s3", timeout, s3={"addressing_style": "path"})
