"""The pytest-testinfra checks ``multiarc-install --verify`` runs against installed hosts.

``test_installed_state.py`` reads what to expect from the JSON file named by
``MULTIARC_VERIFY_EXPECT`` (written by :mod:`multiarc.installer.verify` from the bundle and
state.json); ``collector.py`` is the pytest plugin that writes each check's outcome to
``MULTIARC_VERIFY_RESULTS`` for the pass/fail table.
"""

EXPECT_ENV = "MULTIARC_VERIFY_EXPECT"
RESULTS_ENV = "MULTIARC_VERIFY_RESULTS"

# Check names (for --skip-check) and what they prove.
CHECKS: dict[str, str] = {
    "running-kernel": "the running kernel is the bundle's kernel",
    "kernel-cmdline": "the required parameters (intel_iommu=off) are in /proc/cmdline",
    "grub-cmdline": "GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub carries them for next boot",
    "firmware": "the firmware blobs under /lib/firmware (xe/, i915/) match the bundle's sha256",
    "packages": "every bundle package is installed at the bundle's version",
    "xe-module": "the xe kernel module is loaded",
    "tools": "the evaluation tools are installed (on PATH or in the tools folder)",
}
# Facts of the running system: a chroot shows the host's kernel, command line and modules.
RUNTIME_CHECKS = frozenset({"running-kernel", "kernel-cmdline", "xe-module"})
# Not installed in a container (the host owns kernel, boot loader and firmware).
HOST_ONLY_CHECKS = frozenset({"running-kernel", "kernel-cmdline", "grub-cmdline", "firmware"})
