# SPDX-License-Identifier: GPL-2.0-only
"""kvmbus guest test harness (host side).

tests/run is the entry point; docs/testing.md describes the whole harness.

  common     paths, kernels.env, kernel and module selection, small helpers
  suites     suite files: directives, cases, selection
  initramfs  the cached per-kernel base initramfs and the per-run overlay
  vm         one boot: host companion, QEMU, console, control channel
  cli        command line, reporting, --self-test
"""
