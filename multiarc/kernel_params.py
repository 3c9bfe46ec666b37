"""The kernel parameters the validated stack runs with: one place, the grub role's defaults.

``collection/.../roles/grub/defaults/main.yml`` (``grub_kernel_params``) is what the
installer adds to GRUB_CMDLINE_LINUX_DEFAULT; ``multiarc-install --verify`` checks what
each node recorded it applied (inventory overrides included), and ``multiarc-eval``'s
iommu check reads the same list from here.
"""

from __future__ import annotations

import functools

from multiarc import yaml_files
from multiarc.collection import COLLECTION_ROOT

GRUB_DEFAULTS = COLLECTION_ROOT / "roles" / "grub" / "defaults" / "main.yml"
FALLBACK = ("intel_iommu=off",)  # only if the collection is not installed beside the code


@functools.cache
def required_kernel_params() -> tuple[str, ...]:
    try:
        data = yaml_files.load_file(GRUB_DEFAULTS)
        params = data.get("grub_kernel_params") if isinstance(data, dict) else None
    except (OSError, yaml_files.YAMLError):
        params = None
    if isinstance(params, list) and all(isinstance(p, str) for p in params):
        return tuple(params)
    return FALLBACK


def required_value(name: str) -> str | None:
    """The value the stack wants for one parameter ("intel_iommu" -> "off"), if any."""
    for param in required_kernel_params():
        key, _, value = param.partition("=")
        if key == name:
            return value
    return None
