"""The AWS keyring: KMS GenerateDataKey and Decrypt, with the encryption context bound."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from llm_agg.crypto.envelope import Context, DecryptionFailed, KeyringError

if TYPE_CHECKING:
    from mypy_boto3_kms.client import KMSClient


class KmsKeyring:
    def __init__(self, client: KMSClient, key_id: str) -> None:
        self.client = client
        self.key_id = key_id

    def generate(self, context: Context) -> tuple[bytes, bytes]:
        try:
            response = self.client.generate_data_key(
                KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=dict(context)
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise KeyringError(f"kms: GenerateDataKey failed ({code})") from None
        return response["Plaintext"], response["CiphertextBlob"]

    def unwrap(self, wrapped: bytes, context: Context) -> bytes:
        try:
            response = self.client.decrypt(
                CiphertextBlob=wrapped, EncryptionContext=dict(context), KeyId=self.key_id
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise DecryptionFailed(f"kms: Decrypt failed ({code})") from None
        return response["Plaintext"]
