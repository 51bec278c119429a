"""Checks that several test files share: running a script and pressing Ctrl-C at a marker, and the training images
that 03_images.py logs before and after augmentation."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

import starter

from support.scripts import ROOT

# digits' augmentation is a brightness shift of at most 0.1 (no flips, no grayscale), then a clip to [0, 1].
MAX_SHIFT = 0.1 * 255


def interrupt_at(script, extra, stream, marker, presses, logdir, timeout=180):
    """Runs the script, sends `presses` SIGINTs as soon as `marker` appears; returns (code, stdout, stderr)."""
    command = [sys.executable, script, "--quick", "--dataset", "digits", "--logdir", str(logdir), *extra]
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
        for press in range(presses):
            if press:
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
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
