"""``free_port()``: ports a service binds seconds later, so never from the range connections draw from."""

from __future__ import annotations

import socket
from pathlib import Path

from services.common import processes
from services.common.processes import ephemeral_ports, free_port


def test_ports_come_from_below_the_ephemeral_range() -> None:
    ephemeral = ephemeral_ports()
    ports = [free_port() for _ in range(50)]
    assert all(processes.LOWEST_CHOSEN_PORT <= port < ephemeral.start for port in ports)


def test_a_port_is_handed_out_once_per_process() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)


def test_a_port_something_listens_on_is_never_handed_out(monkeypatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        monkeypatch.setattr(processes.secrets, "choice", lambda _: taken)
        monkeypatch.setattr(processes, "LOWEST_CHOSEN_PORT", 1)
        assert free_port() != taken


def test_the_range_is_read_from_the_kernel_and_defaults_to_linuxs(tmp_path: Path) -> None:
    custom = tmp_path / "range"
    custom.write_text("40000\t50000\n")
    assert ephemeral_ports(custom) == range(40000, 50001)
    assert ephemeral_ports(tmp_path / "absent") == range(32768, 61000)
