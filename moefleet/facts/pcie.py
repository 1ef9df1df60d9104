"""GPUs and their PCIe links from ``lspci -vv`` / ``-vvv`` / ``-vvnn`` (optionally ``-D``).

Only display-class devices (VGA, 3D, Display controller) and processing accelerators are kept.
Board-management and virtual display adapters (Matrox/ASPEED BMC graphics, QEMU, VMware...) are
dropped: they are not GPUs that can run a model. Link speed and width come from the PCI Express
capability's ``LnkCap`` (the maximum) and ``LnkSta`` (the negotiated state) lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from moefleet.errors import ParseError
from moefleet.facts.model import PCIE_GEN_BY_GTS, PciDevice, PcieLink
from moefleet.facts.values import normalize_bus_id

_DEVICE_HEADER = re.compile(
    r"^(?P<bus>(?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+"
    r"(?P<cls>[^:\[]+)(?:\[(?P<code>[0-9a-fA-F]{4})\])?:\s*(?P<rest>.*)$"
)
_GPU_CLASSES = (
    "vga compatible controller",
    "3d controller",
    "display controller",
    "processing accelerators",
)
# PCI class codes (lspci -nn): 03xx display controllers, 1200 processing accelerators.
_GPU_CLASS_CODES = re.compile(r"^(03[0-9a-fA-F]{2}|1200)$")
_IDS = re.compile(r"\[(?P<vendor>[0-9a-fA-F]{4}):(?P<device>[0-9a-fA-F]{4})\]$")
_TRAILING_NOTE = re.compile(r"\((?:rev [0-9a-fA-F]{1,4}|prog-if [^()]{0,80})\)")
_SPEED = re.compile(r"Speed\s+(\d{1,3}(?:\.\d{1,3})?)\s*GT/s")
_WIDTH = re.compile(r"Width\s+x(\d{1,3})\b")
_LINK_LINE = re.compile(r"^\s*(LnkCap|LnkSta):\s*(.*)$")

#: GPU and BMC vendor names as pci.ids spells them (lspci prints them before the device name).
_KNOWN_VENDORS = (
    "Advanced Micro Devices, Inc. [AMD/ATI]",
    "Advanced Micro Devices, Inc. [AMD]",
    "NVIDIA Corporation",
    "Intel Corporation",
    "Habana Labs Ltd.",
    "Huawei Technologies Co., Ltd.",
    "Matrox Electronics Systems Ltd.",
    "ASPEED Technology, Inc.",
)
_ID_BY_VENDOR = {
    "NVIDIA Corporation": "10de",
    "Advanced Micro Devices, Inc. [AMD/ATI]": "1002",
    "Intel Corporation": "8086",
    "Habana Labs Ltd.": "1da3",
}
#: lspci names a device that pci.ids does not know 'Device 2330' (its device id).
_VENDOR_BY_ID = {vendor_id: name for name, vendor_id in _ID_BY_VENDOR.items()}
_UNNAMED_DEVICE = re.compile(r"\bDevice ([0-9a-fA-F]{4})$")

#: Display adapters that are never compute GPUs: BMC graphics and hypervisor virtual VGA.
_NOT_A_GPU_VENDOR_IDS = {"102b", "1a03", "1013", "1234", "1b36", "15ad", "1af4", "1414"}
_NOT_A_GPU_NAMES = re.compile(
    r"matrox|aspeed|cirrus logic|qxl|vmware svga|virtio gpu|bochs|hyper-v|hi1710", re.IGNORECASE
)


def gts_to_gen(value: float) -> int | None:
    """PCIe generation for a per-lane rate in GT/s (16.0 -> 4), None for unknown rates."""
    for gts, gen in PCIE_GEN_BY_GTS.items():
        if abs(gts - value) < 0.01:
            return gen
    return None


def parse_lspci(text: str) -> list[PciDevice]:
    """The GPU-like devices in ``lspci -vv`` output, with their PCIe link state."""
    if not text.strip():
        raise ParseError("empty lspci output; expected 'lspci -vv' device blocks")
    blocks = list(_device_blocks(text))
    if not blocks:
        raise ParseError("not lspci -vv output: no 'bb:dd.f Class: Device' header line")
    devices = []
    for header, body in blocks:
        device = _gpu_from_block(header, body)
        if device is not None:
            devices.append(device)
    return devices


def _device_blocks(text: str) -> Iterator[tuple[re.Match[str], list[str]]]:
    """Each device header match with the indented lines that follow it."""
    header: re.Match[str] | None = None
    body: list[str] = []
    for line in text.splitlines():
        match = _DEVICE_HEADER.match(line)
        if match:
            if header is not None:
                yield header, body
            header, body = match, []
        elif header is not None:
            body.append(line)
    if header is not None:
        yield header, body


def _is_gpu_class(name: str, code: str | None) -> bool:
    if code is not None:
        return bool(_GPU_CLASS_CODES.match(code))
    return name.strip().lower() in _GPU_CLASSES


def _gpu_from_block(header: re.Match[str], body: list[str]) -> PciDevice | None:
    """A PciDevice for a GPU-like block, None for every other device."""
    if not _is_gpu_class(header.group("cls"), header.group("code")):
        return None
    bus_id = normalize_bus_id(header.group("bus"))
    description, vendor_id, device_id = _split_name(header.group("rest"))
    if bus_id is None or not description:
        return None
    if vendor_id in _NOT_A_GPU_VENDOR_IDS or _NOT_A_GPU_NAMES.search(description):
        return None
    vendor = _vendor(description, vendor_id)
    if vendor_id is None:
        vendor_id, device_id = _ids_from_names(description, vendor)
    link, readable = _link(body)
    return PciDevice(
        bus_id=bus_id,
        vendor_id=vendor_id,
        device_id=device_id,
        vendor=vendor,
        description=description,
        link=link,
        link_readable=readable,
    )


def _split_name(rest: str) -> tuple[str, str | None, str | None]:
    """'NVIDIA Corporation AD102 [10de:2684] (rev a1)' -> (name, '10de', '2684')."""
    name = rest.strip()
    for _ in range(2):  # '(rev a1)' then '(prog-if 00 [VGA controller])', from the right
        start = name.rfind("(")
        if start < 0 or not _TRAILING_NOTE.fullmatch(name, start):
            break
        name = name[:start].rstrip()
    ids = _IDS.search(name)
    if ids is None:
        return name, None, None
    vendor_id, device_id = ids.group("vendor").lower(), ids.group("device").lower()
    return name[: ids.start()].strip(), vendor_id, device_id


def _ids_from_names(description: str, vendor: str | None) -> tuple[str | None, str | None]:
    """Ids lspci implies without -nn: known vendor names, and 'Device 2330' for unnamed ones."""
    unnamed = _UNNAMED_DEVICE.search(description)
    device_id = unnamed.group(1).lower() if unnamed else None
    return _ID_BY_VENDOR.get(vendor or ""), device_id


def _vendor(description: str, vendor_id: str | None) -> str | None:
    for vendor in _KNOWN_VENDORS:
        if description.startswith(vendor):
            return vendor
    return _VENDOR_BY_ID.get(vendor_id or "")


def _link(body: list[str]) -> tuple[PcieLink, bool]:
    """LnkCap/LnkSta of a device block, and whether the capabilities were readable at all."""
    cap: str | None = None
    sta: str | None = None
    denied = False
    for line in body:
        if "<access denied>" in line:
            denied = True
        match = _LINK_LINE.match(line)
        if match and match.group(1) == "LnkCap" and cap is None:
            cap = match.group(2)
        elif match and match.group(1) == "LnkSta" and sta is None:
            sta = match.group(2)
    if denied and cap is None and sta is None:
        return PcieLink(), False
    gen_max, width_max = _speed_width(cap)
    gen_current, width_current = _speed_width(sta)
    link = PcieLink(
        gen_current=gen_current,
        gen_max=gen_max,
        width_current=width_current,
        width_max=width_max,
    )
    return link, True


def _speed_width(value: str | None) -> tuple[int | None, int | None]:
    """('Speed 16GT/s, Width x16, ...') -> (4, 16); unknown parts are None."""
    if value is None:
        return None, None
    speed = _SPEED.search(value)
    width = _WIDTH.search(value)
    gen = gts_to_gen(float(speed.group(1))) if speed else None
    lanes = int(width.group(1)) if width else None
    return gen, lanes
