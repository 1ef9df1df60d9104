"""Render a ``HostProfile`` into what the host's tools print, in their real formats.

Formats follow public captures of real machines (see ``shared/real-outputs/INDEX.md``); the
text is generated here from profile values, never copied. Where the real format changed with
the driver, the profile's driver version picks the era:

- driver < 530: 79-column table, ``clocks_throttle_reasons``, ``power_readings``;
- driver >= 535: 89-column table, ``clocks_event_reasons``, ``gpu_power_readings``;
- driver >= 570: power draw split into ``average_power_draw`` / ``instant_power_draw``;
- Ada and Hopper (driver >= 525) report temperatures as T.Limit margins, older GPUs as
  absolute thresholds (``gpu_temp_slow_threshold``...);
- Volta and older (or driver < 510) count ECC errors as ``single_bit``/``double_bit``.

The rendering lives in one module per tool family; this module re-exports them.
"""

from tests.lab.render_csv import query_csv, query_document
from tests.lab.render_smi import llama_version, nvlink_status, nvsmi_list, nvsmi_table
from tests.lab.render_system import cpuinfo, lscpu, lspci, meminfo
from tests.lab.render_xml import NA, SMI_FAILED, nvsmi_xml

__all__ = [
    "NA", "SMI_FAILED", "cpuinfo", "llama_version", "lscpu", "lspci", "meminfo", "nvlink_status",
    "nvsmi_list", "nvsmi_table", "nvsmi_xml", "query_csv", "query_document",
]  # fmt: skip
