"""lspci -vv parsing: GPU-like devices only, LnkCap/LnkSta, non-root, -nn ids, -D domains."""

from __future__ import annotations

import pytest

from moefleet.errors import ParseError
from moefleet.facts.model import PciDevice, PcieLink
from moefleet.facts.pcie import gts_to_gen, parse_lspci
from tests.facts.system_helpers import assert_parses_or_raises_parse_error, fixture


@pytest.mark.parametrize(
    ("gts", "gen"),
    [(2.5, 1), (5.0, 2), (8.0, 3), (16.0, 4), (32.0, 5), (64.0, 6), (3.0, None), (0.0, None)],
)
def test_gts_to_gen(gts, gen):
    assert gts_to_gen(gts) == gen


def test_non_root_gpu_has_no_link_and_is_marked_unreadable():
    devices = parse_lspci(fixture("lspci_vv_nonroot.txt"))
    assert devices == [
        PciDevice(
            bus_id="0000:1b:00.0",
            vendor_id="10de",
            vendor="NVIDIA Corporation",
            description="NVIDIA Corporation AD102 [GeForce RTX 4090]",
            link=PcieLink(),
            link_readable=False,
        )
    ]
    assert devices[0].is_nvidia


def test_riser_x8_nn_ids_domains_and_bmc_vga_dropped():
    devices = {
        device.bus_id: device for device in parse_lspci(fixture("lspci_vvnn_D_riser_x8.txt"))
    }
    assert sorted(devices) == ["0000:21:00.0", "0000:c3:00.0", "0001:05:00.0"]
    rtx = devices["0000:21:00.0"]
    assert (rtx.vendor_id, rtx.device_id, rtx.vendor) == ("10de", "2684", "NVIDIA Corporation")
    assert rtx.description == "NVIDIA Corporation AD102 [GeForce RTX 4090]"
    assert rtx.link == PcieLink(gen_current=4, gen_max=4, width_current=8, width_max=16)
    assert rtx.link_readable


def test_amd_instinct_processing_accelerator_is_kept():
    device = {d.bus_id: d for d in parse_lspci(fixture("lspci_vvnn_D_riser_x8.txt"))}[
        "0000:c3:00.0"
    ]
    assert (device.vendor_id, device.device_id) == ("1002", "74a1")
    assert device.vendor == "Advanced Micro Devices, Inc. [AMD/ATI]"
    assert "Instinct MI300X" in device.description
    assert not device.is_nvidia
    assert device.link == PcieLink(gen_current=5, gen_max=5, width_current=16, width_max=16)


def test_speed_downgraded_at_idle():
    device = {d.bus_id: d for d in parse_lspci(fixture("lspci_vvnn_D_riser_x8.txt"))}[
        "0001:05:00.0"
    ]
    assert device.link == PcieLink(gen_current=1, gen_max=5, width_current=16, width_max=16)


def test_old_lspci_without_ok_markers_and_unknown_speed():
    devices = parse_lspci(fixture("lspci_vv_old_format.txt"))
    assert [d.bus_id for d in devices] == ["0000:03:00.0", "0000:04:00.0"]
    assert devices[0].link == PcieLink(gen_current=3, gen_max=3, width_current=16, width_max=16)
    assert devices[1].link == PcieLink(gen_current=None, gen_max=3, width_current=0, width_max=16)
    assert devices[1].vendor_id == "1002"


def test_lnkcap2_and_lnksta2_are_not_read_as_the_link():
    text = (
        "01:00.0 3D controller: NVIDIA Corporation Device 20b5 (rev a1)\n"
        "\t\tLnkCap2: Supported Link Speeds: 2.5-16GT/s\n"
        "\t\tLnkSta2: Current De-emphasis Level: -3.5dB\n"
    )
    (device,) = parse_lspci(text)
    assert device.device_id == "20b5"
    assert device.link == PcieLink()
    assert device.link_readable


def test_only_bridges_gives_no_devices():
    text = "00:01.0 PCI bridge: Intel Corporation Device 1234\n\tCapabilities: <access denied>\n"
    assert parse_lspci(text) == []


@pytest.mark.parametrize("text", ["", "  \n", "not lspci at all\nline two"])
def test_unrecognisable_input_raises(text):
    with pytest.raises(ParseError, match="lspci"):
        parse_lspci(text)


@pytest.mark.parametrize(
    "name", ["lspci_vv_nonroot.txt", "lspci_vvnn_D_riser_x8.txt", "lspci_vv_old_format.txt"]
)
def test_fuzz_lspci(name):
    assert_parses_or_raises_parse_error(parse_lspci, fixture(name), list)
