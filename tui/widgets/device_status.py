"""Device status: the device, CUDA memory, GPU utilisation, CPU % and the trainer's RSS."""
from __future__ import annotations

import psutil
from rich.text import Text
from textual.widgets import Static

try:  # optional: nvidia-ml-py, for GPU utilisation
    import pynvml
except ImportError:
    pynvml = None


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB" if n < 2**30 else f"{n / 2**30:.1f} GiB"


class DeviceStatus(Static):
    def __init__(self, device: str, **kwargs):
        super().__init__(**kwargs)
        self.device = device
        self.memory: dict = {}
        self.trainer_pid: int | None = None
        self._process: psutil.Process | None = None
        self._nvml = False

    def on_mount(self) -> None:
        self.update_status()
        self.set_interval(2.0, self.update_status)

    def track(self, pid: int | None) -> None:
        self.trainer_pid = pid
        self._process = None
        if pid:
            try:
                self._process = psutil.Process(pid)
                self._process.cpu_percent(None)  # the first call only primes the counter
            except psutil.Error:
                self._process = None

    def set_device(self, device: str) -> None:
        self.device = device
        if device.startswith("cuda") and pynvml is not None and not self._nvml:
            try:
                pynvml.nvmlInit()
                self._nvml = True
            except Exception:  # no driver, no permission: utilisation is simply not shown
                self._nvml = False
        self.update_status()

    def update_status(self) -> None:
        parts = [self.device]
        if self.memory:
            parts.append(f"{_mib(self.memory.get('allocated', 0))} alloc, {_mib(self.memory.get('reserved', 0))} "
                         f"rsv of {_mib(self.memory.get('total', 0))}")
        if self._nvml:
            try:
                index = int(self.device.split(":")[1].split()[0]) if ":" in self.device else 0
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                parts.append(f"gpu {pynvml.nvmlDeviceGetUtilizationRates(handle).gpu}%")
            except Exception:
                pass
        if self._process is not None:
            try:
                parts.append(f"cpu {self._process.cpu_percent(None):.0f}%  rss {_mib(self._process.memory_info().rss)}")
            except psutil.Error:
                self._process = None
        else:
            parts.append("idle")
        self.update(Text("\n".join(parts)), layout=False)  # a fixed-size panel: no relayout every refresh
