"""Offline bundles: verify (before anything changes), extract safely, create.

The work is split by concern: bundle_stream.py (format by magic bytes, the bounded xz
stream), tree_guard.py (which members a bundle may hold), bundle_verify.py, bundle_extract.py
and bundle_create.py. This module is their one front door.
"""

from __future__ import annotations

from multiarc.installer.bundle_create import (
    SAFE_VERSION,
    CreatedBundle,
    archive_sha256,
    create_bundle,
    write_archive,
)
from multiarc.installer.bundle_extract import (
    ExtractedBundle,
    extract_bundle,
    human_size,
    mount_point,
    space_needed,
)
from multiarc.installer.bundle_verify import (
    CORRUPT_HINT,
    MANIFEST_NOTE,
    ComponentSummary,
    MemberDigest,
    VerifiedBundle,
    verify_bundle,
)

__all__ = [
    "CORRUPT_HINT",
    "MANIFEST_NOTE",
    "SAFE_VERSION",
    "ComponentSummary",
    "CreatedBundle",
    "ExtractedBundle",
    "MemberDigest",
    "VerifiedBundle",
    "archive_sha256",
    "create_bundle",
    "extract_bundle",
    "human_size",
    "mount_point",
    "space_needed",
    "verify_bundle",
    "write_archive",
]
