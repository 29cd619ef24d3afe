"""A bootable disk in 512 bytes: x86 real-mode code that prints a line on COM1, then halts.

    data = boot_sector(b"POLYVISOR BOOT OK")    # a raw disk image, 512 bytes

The BIOS loads the sector at 0000:7C00 and jumps to it. The code clears the direction flag,
points DS:SI at the message, writes it byte by byte to the UART data port 0x3F8 (QEMU's
16550 takes bytes without any set-up), then halts for ever with interrupts off. The sector
ends with the 0x55 0xAA boot signature.
"""

from __future__ import annotations

__all__ = ["BOOT_LINE", "boot_sector", "ticker_sector"]

BOOT_LINE = b"POLYVISOR BOOT OK"
_LOAD_ADDRESS = 0x7C00


def boot_sector(line: bytes = BOOT_LINE) -> bytes:
    if b"\x00" in line or len(line) > 400:
        raise ValueError("the line must be short and contain no NUL byte")
    code = bytearray()
    code += b"\xfa"  # cli
    code += b"\xfc"  # cld
    code += b"\x31\xc0"  # xor ax, ax
    code += b"\x8e\xd8"  # mov ds, ax
    msg_fixup = len(code) + 1
    code += b"\xbe\x00\x00"  # mov si, <message>        (patched below)
    code += b"\xba\xf8\x03"  # mov dx, 0x3f8
    loop = len(code)
    code += b"\xac"  # loop: lodsb
    code += b"\x84\xc0"  # test al, al
    code += b"\x74\x03"  # jz halt               (skips the next 3 bytes)
    code += b"\xee"  # out dx, al
    code += bytes([0xEB, (loop - (len(code) + 2)) & 0xFF])  # jmp loop
    halt = len(code)
    code += b"\xf4"  # halt: hlt
    code += bytes([0xEB, (halt - (len(code) + 2)) & 0xFF])  # jmp halt
    message = _LOAD_ADDRESS + len(code)
    code[msg_fixup : msg_fixup + 2] = message.to_bytes(2, "little")
    code += line + b"\r\n\x00"
    if len(code) > 510:
        raise ValueError("boot code too long")
    return bytes(code) + b"\x00" * (510 - len(code)) + b"\x55\xaa"


# ticker_sector(): prints "TICK nnnn" (a hex counter kept in BX) on COM1 twice a second for
# ever, waiting between lines for nine ticks of the BIOS timer (sti; hlt), so it costs no CPU.
# The counter lives in the guest's registers: a live migration keeps counting, a reboot starts
# at 0000 again. Assembled (GNU as, .code16, linked at 0x7C00) from:
#
#       cli; cld; xor ax,ax; mov ds,ax; mov ss,ax; mov sp,0x7c00
#       xor bx,bx; mov dx,0x3f8
#   tick:   mov si,msg
#   print:  lodsb; test al,al; jz digits; out dx,al; jmp print
#   digits: mov cx,4; mov di,bx
#   nibble: rol di,4; mov ax,di; and al,0x0f; add al,'0'; cmp al,'9'; jbe 1f; add al,7
#   1:      out dx,al; loop nibble
#           mov al,13; out dx,al; mov al,10; out dx,al; inc bx
#           mov cx,9
#   wait:   sti; hlt; loop wait
#           jmp tick
#   msg:    .asciz "TICK "
_TICKER = bytes.fromhex(
    "fafc31c08ed88ed0bc007c31dbbaf803be427cac84c07403eeebf8b9040089df"
    "c1c70489f8240f04303c3976020407eee2eeb00deeb00aee43b90900fbf4e2fc"
    "ebce5449434b2000"
)


def ticker_sector() -> bytes:
    return _TICKER + b"\x00" * (510 - len(_TICKER)) + b"\x55\xaa"
