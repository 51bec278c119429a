"""Checks that several test files share: running a script and pressing Ctrl-C at a marker, and the training images
that 03_images.py logs before and after augmentation."""

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

import starter

from support.scripts import ROOT, dataset_flags

# digits' augmentation is a brightness shift of at most 0.1 (no flips, no grayscale), then a clip to [0, 1].
MAX_SHIFT = 0.1 * 255


def interrupt_at(script, extra, stream, marker, presses, logdir, timeout=180, signum=signal.SIGINT, at_marker=None):
    """Runs the script, sends `presses` SIGINTs (or `signum`) as soon as `marker` appears, after calling
    `at_marker(process)` if given; returns (code, stdout, stderr)."""
    command = [sys.executable, script, "--quick", *dataset_flags(script), "--logdir", str(logdir), *extra]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    captured = {"stdout": [], "stderr": []}

    def collect(name, pipe):
        for chunk in iter(lambda: pipe.read(1), ""):
            captured[name].append(chunk)

    readers = [threading.Thread(target=collect, args=(name, getattr(process, name))) for name in captured]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    try:
        while marker not in "".join(captured[stream]):
            assert process.poll() is None, f"{script} ended before {marker!r}:\n{''.join(captured['stderr'])[-2000:]}"
            assert time.monotonic() < deadline, f"{script} never printed {marker!r}"
            time.sleep(0.01)
        if at_marker is not None:
            at_marker(process)
        for press in range(presses):
            if press:
                time.sleep(0.05)
            process.send_signal(signum)
        code = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for reader in readers:
            reader.join()
    return code, "".join(captured["stdout"]), "".join(captured["stderr"])


def first_training_images(count):
    """The first `count` training images of the --quick digits run, as stored (uint8), with their labels."""
    dataset = starter.load_dataset("digits", quick=True, verbose=False)
    images, labels = dataset.train.take(count).batch(count).get_single_element()
    return images.numpy(), labels.numpy(), dataset.class_names


def assert_before_and_after_are_the_same_images(before, after, dataset_images):
    """`before` is the dataset's own images; `after` is each of them shifted in brightness and clipped."""
    assert len(before) == len(after) == len(dataset_images)
    for original, logged, augmented in zip(dataset_images, before, after, strict=True):
        assert np.array_equal(logged, original)
        # Where the augmented pixel was not clipped, it is the original plus one shift for the whole image
        # (up to rounding): the same picture, brighter or darker.
        original, augmented = original.astype(int), augmented.astype(int)
        unclipped = (augmented > 0) & (augmented < 255)
        assert unclipped.any()
        shift = augmented[unclipped] - original[unclipped]
        assert shift.max() - shift.min() <= 2, shift
        assert np.abs(shift).max() <= MAX_SHIFT + 1
        # And clipped pixels are where the shift pushed them out of range.
        assert np.all(original[augmented == 0] <= MAX_SHIFT + 1)


def processes_mentioning(text):
    """The ids of the processes on this machine whose command line holds `text` (read from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        if any(text.encode() in argument for argument in arguments):
            found.append(int(cmdline.parent.name))
    return found


def assert_no_process_left(text, timeout=30):
    """Every process whose command line holds `text` has ended (within `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while processes_mentioning(text) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not processes_mentioning(text), f"processes left running: {processes_mentioning(text)}"


def listening_sockets(pids):
    """(address, port) of every TCP socket that the processes `pids` listen on, read from /proc (Linux)."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    link = os.readlink(fd)
                    if link.startswith("socket:["):
                        inodes.add(link[len("socket:[") : -1])
    found = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            (address, port), state, inode = fields[1].split(":"), fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                # The kernel writes each 32-bit word of the address in the machine's (little-endian) byte order.
                raw = b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8))
                found.append((socket.inet_ntop(family, raw), int(port, 16)))
    return found


def is_loopback(address):
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses."""
    ip = ipaddress.ip_address(address)
    return ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)
