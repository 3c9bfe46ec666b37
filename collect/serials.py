"""Serial numbers, UUIDs and asset tags by their labels in collected texts (``--redact``
learns every value found, from every text, before the first byte is written, and replaces
it wherever it appears): dmidecode's, xpu-smi's discovery (text and JSON), the PCIe Device
Serial Numbers of ``lspci -vvv``, and other tools' labels (ipmitool fru, lshw, udev, camelCase
JSON) when the value looks like a serial."""

from __future__ import annotations

import re

# Serial numbers by their label: dmidecode, xpu-smi (text and JSON), lspci -vvv.
SERIAL_FIELDS = re.compile(
    r"(?P<key>(?:Serial Number|UUID|Asset Tag|Service Tag|Part Number|SOC UUID|"
    r"Device Serial Number|(?:product|board|chassis)_(?:serial|uuid))(?![\w-])\s*[:]?\s*"
    r"|\"(?:serial_number|uuid|soc_uuid|serial)\"\s*:\s*\")"
    # greedy and bounded: the value ends at its last non-blank before a quote, a bar or the
    # line's end (a lazy value re-scanned a planted run of blanks at every step: minutes)
    r"(?P<value>[^\s\"|,](?:[^\"|\n]{0,126}[^\s\"|\n])?)(?=[ \t\r]{0,512}(?:\"|\||$))",
    re.MULTILINE | re.IGNORECASE,
)
# Other tools' labels (ipmitool fru's "Board Serial :", lshw's "serial:", udev's
# ID_SERIAL_SHORT=, camelCase JSON): the value must look like a serial (a digit, no blank),
# since a label this loose meets words ("serial: enabled") that must not be replaced
# everywhere they appear.
SERIAL_LOOSE = re.compile(
    r"(?P<key>(?<![\w-])(?:(?:Board|Product|Chassis|System|Module|Baseboard)[ _]Serial"
    r"|serial(?:[ _-]?(?:number|no|num))?|ID_SERIAL(?:_SHORT)?|SerialNumber)[ \t]*[:=][ \t]*"
    r"|\"(?:serialNumber|SerialNumber|serial_no|device_serial|board_serial|product_serial)\""
    r"[ \t]*:[ \t]*\")"
    r"(?P<value>(?=[^\s\"|,/]{0,63}\d)[A-Za-z0-9][\w.:-]{4,63})(?![\w.:/-])",
    re.IGNORECASE,
)
DMI_PLACEHOLDERS = {
    "not specified", "to be filled by o.e.m.", "default string", "none", "not present",
    "not provided", "unknown", "n/a", "0", "00000000", "no asset tag", "system serial number",
    "chassis serial number", "base board serial number", "123456789", "",
}  # fmt: skip


def not_placeholder(value: str) -> bool:
    return value.strip().lower() not in DMI_PLACEHOLDERS and len(value.strip()) >= 3


def serial_values(text: str) -> set[str]:
    """Serial numbers, UUIDs and asset tags by their labels (placeholders left out)."""
    found = {m.group("value").strip() for m in SERIAL_FIELDS.finditer(text)
             if not_placeholder(m.group("value"))}  # fmt: skip
    return found | {m.group("value") for m in SERIAL_LOOSE.finditer(text)
                    if not_placeholder(m.group("value"))}  # fmt: skip


def dmi_identifiers(dmidecode_text: str) -> set[str]:
    return serial_values(dmidecode_text)
