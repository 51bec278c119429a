"""The readers the export benchmark times, each run as a whole process: `python bench/export_readers.py NAME LOGDIR`.

Each prints the number of scalar points it read as its last line, so the benchmark can check that every reader read
every point. 16's whole export is not here: the benchmark runs `python 16_export.py` itself.
"""

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lesson():
    """16_export.py as a module (its name starts with a digit, so `import` cannot name it)."""
    sys.path.insert(0, str(ROOT))
    return importlib.import_module("16_export")


def read_with_16(logdir):
    """16's reader alone: the logdir to a pandas DataFrame of every point (and the HParams summaries)."""
    scalars, _ = lesson().read_logdir(logdir)
    return len(scalars)


def read_with_event_file_loader(logdir):
    """The pure-Python loop over TensorBoard's EventFileLoader: 16's fallback where there is no data server."""
    scalars, _ = lesson().utils.read_event_files(logdir)
    return len(scalars)


def read_with_tbparse(logdir):
    """tbparse's read of every scalar (TF2 writes them as tensors: its `.tensors`), into its DataFrame."""
    from tbparse import SummaryReader

    return len(SummaryReader(str(logdir), extra_columns={"dir_name", "wall_time"}).tensors)


def read_with_data_server(logdir):
    """TensorBoard's data server alone: start it, wait for its one load, ask for every point; no DataFrame."""
    import os
    import queue
    import subprocess
    import tempfile
    import threading

    import grpc
    from tensorboard.data import grpc_provider, server_ingester
    from tensorboard.data.proto import data_provider_pb2

    with tempfile.TemporaryDirectory() as temp:
        port_file = Path(temp) / "port"
        command = [server_ingester.get_server_binary().path, f"--logdir={logdir}", "--reload=once", "--port=0"]
        command += ["--samples-per-plugin=scalars=all", f"--port-file={port_file}", "--die-after-stdin", "--verbose"]
        environment = {**os.environ, "RUST_LOG": "info"}  # "Finished load cycle" is logged whatever RUST_LOG says
        server = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in server.stderr], daemon=True).start()
        try:
            while "Finished load cycle" not in lines.get(timeout=600):
                pass
            options = [("grpc.max_receive_message_length", 2**31 - 1)]
            stub = grpc_provider.make_stub(grpc.insecure_channel(f"localhost:{port_file.read_text().strip()}", options))
            request = data_provider_pb2.ReadScalarsRequest(plugin_filter={"plugin_name": "scalars"})
            request.downsample.num_points = 2**62
            response = stub.ReadScalars(request)
            return sum(len(tag.data.value) for run in response.runs for tag in run.tags)
        finally:
            server.kill()
            server.wait()


READERS = {
    "16_reader": read_with_16,
    "event_file_loader": read_with_event_file_loader,
    "tbparse": read_with_tbparse,
    "data_server": read_with_data_server,
}

if __name__ == "__main__":
    print(READERS[sys.argv[1]](sys.argv[2]))
