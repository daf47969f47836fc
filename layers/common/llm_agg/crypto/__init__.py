"""Envelope encryption of provider keys: a fresh AES-256-GCM data key per secret, wrapped by
AWS KMS (``kms.py``) or by a local master key file (``local.py``)."""
